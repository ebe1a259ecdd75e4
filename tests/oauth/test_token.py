"""The token endpoint: codes, refresh tokens, client credentials and client authentication."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.db import db
from idp.tenancy.models import Tenant
from tests.helpers import csrf_from, make_tenant, make_user
from tests.oauth.helpers import REDIRECT_URI, RP, exchange, get_code, make_rp


@pytest.fixture
def rp(app: Flask) -> RP:
    tenant = make_tenant()
    make_user(tenant)
    return make_rp(tenant)


def _tokens(client: FlaskClient, rp: RP, **params: str) -> dict[str, Any]:
    code, verifier = get_code(client, rp, **params)
    response = exchange(client, rp, code, verifier)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _refresh(client: FlaskClient, rp: RP, token: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(f"{rp.prefix}/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra},
                       headers=rp.basic)


def _userinfo(client: FlaskClient, rp: RP, access_token: str) -> int:
    return client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_a_replayed_code_fails_and_revokes_what_it_issued(client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    first = exchange(client, rp, code, verifier).get_json()
    assert _userinfo(client, rp, first["access_token"]) == 200
    replay = exchange(client, rp, code, verifier)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert _userinfo(client, rp, first["access_token"]) == 401
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_code_lives_at_most_60_seconds(app: Flask, client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    app.extensions["idp.clock"].advance(timedelta(seconds=61))
    response = exchange(client, rp, code, verifier)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_redirect_uri_and_client(app: Flask, client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    wrong_uri = exchange(client, rp, code, verifier, redirect_uri=REDIRECT_URI + "x")
    assert wrong_uri.get_json()["error"] == "invalid_grant"
    from idp.tenancy.service import get_tenant

    other = make_rp(get_tenant("acme"))
    code, verifier = get_code(client, rp, signed_in=True)
    stolen = exchange(client, other, code, verifier)
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"


def test_pkce_verifier_must_match(client: FlaskClient, rp: RP) -> None:
    code, _ = get_code(client, rp)
    response = exchange(client, rp, code, "w" * 43)
    assert response.get_json()["error"] == "invalid_grant"


def test_a_verifier_without_a_challenge_is_refused(client: FlaskClient, rp: RP) -> None:
    code, _ = get_code(client, rp, code_challenge="", code_challenge_method="")
    response = exchange(client, rp, code, "v" * 43)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_confidential_client_without_pkce_still_works(client: FlaskClient, rp: RP) -> None:
    code, _ = get_code(client, rp, code_challenge="", code_challenge_method="")
    assert exchange(client, rp, code, None).status_code == 200


def test_password_grant_is_refused(client: FlaskClient, rp: RP) -> None:
    response = client.post(f"{rp.prefix}/token", headers=rp.basic,
                           data={"grant_type": "password", "username": "coach@example.com", "password": "x"})
    assert response.status_code == 400 and response.get_json()["error"] == "unsupported_grant_type"


def test_wrong_client_secret_is_invalid_client(client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    response = exchange(client, RP(rp.client_id, "wrong-secret", rp.prefix), code, verifier)
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_client_secret_post(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    rp = make_rp(tenant, token_endpoint_auth_method="client_secret_post")
    code, verifier = get_code(client, rp)
    response = client.post(f"{rp.prefix}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
        "client_id": rp.client_id, "client_secret": rp.client_secret})
    assert response.status_code == 200
    basic = exchange(client, rp, *get_code(client, rp, signed_in=True))
    assert basic.status_code == 401  # a client uses the one method it registered


def test_public_client_with_pkce(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    native = make_rp(tenant, public=True, redirect_uris=["com.example.app:/callback"])
    assert native.client_secret is None
    native_redirect = "com.example.app:/callback"
    from tests.helpers import sign_in
    from tests.oauth.helpers import authorize, follow_local, pkce, query_of

    verifier, challenge = pkce()
    start = authorize(client, native, redirect_uri=native_redirect, code_challenge=challenge,
                      code_challenge_method="S256")
    request_id = query_of(start.headers["Location"])["request"]
    signed = sign_in(client, native.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
    done = follow_local(client, signed)
    code = query_of(done.headers["Location"])["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": native_redirect,
            "client_id": native.client_id}
    assert client.post("/a/acme/token", data=form).get_json()["error"] == "invalid_request"  # no verifier
    start = authorize(client, native, redirect_uri=native_redirect, code_challenge=challenge,
                      code_challenge_method="S256")
    code = query_of(start.headers["Location"])["code"]
    response = client.post("/a/acme/token", data=form | {"code": code, "code_verifier": verifier})
    assert response.status_code == 200, response.get_json()


def test_refresh_rotates_and_reuse_revokes_the_grant(client: FlaskClient, rp: RP) -> None:
    first = _tokens(client, rp)
    second = _refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200
    body = second.get_json()
    assert body["refresh_token"] != first["refresh_token"]
    assert "id_token" in body and "nonce" not in jwt.decode(body["id_token"], _any_key(client, rp)).claims
    reuse = _refresh(client, rp, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    # the whole grant is gone: the newest refresh token and access token too
    assert _refresh(client, rp, body["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo(client, rp, body["access_token"]) == 401


def _any_key(client: FlaskClient, rp: RP):  # type: ignore[no-untyped-def]
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get(f"{rp.prefix}/jwks").get_json())


def test_a_refresh_token_presented_by_another_client_is_refused_and_stays_usable(
    app: Flask, client: FlaskClient, rp: RP
) -> None:
    first = _tokens(client, rp)
    tenant = Tenant.query.filter_by(account="acme").one()
    other = make_rp(tenant, client_name="Other Portal")
    stolen = _refresh(client, other, first["refresh_token"])
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    # Not spent by the other client: its rightful owner's next use is not mistaken for reuse.
    assert _refresh(client, rp, first["refresh_token"]).status_code == 200


def test_a_refresh_token_of_a_revoked_grant_is_refused(app: Flask, client: FlaskClient, rp: RP) -> None:
    from idp.db import db
    from idp.oauth.models import Grant

    first = _tokens(client, rp)
    for grant in Grant.query.all():
        grant.revoked_at = app.extensions["idp.clock"].now()
    db.session.commit()
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_refresh_slides_the_idle_timer_without_writing_to_the_grant(app: Flask, client: FlaskClient, rp: RP) -> None:
    from tests.helpers import statements_run

    first = _tokens(client, rp)
    app.extensions["idp.clock"].advance(timedelta(minutes=50))
    with statements_run() as statements:
        second = _refresh(client, rp, first["refresh_token"]).get_json()
    assert "refresh_token" in second
    assert not [s for s in statements if s.startswith("UPDATE GRANTS")], "the grant row is not rewritten"
    # The idle timer now runs from this refresh, for the token endpoint and introspection alike.
    app.extensions["idp.clock"].advance(timedelta(minutes=59))
    introspect = {"token": second["refresh_token"]}
    assert client.post(f"{rp.prefix}/introspect", data=introspect, headers=rp.basic).get_json()["active"] is True
    app.extensions["idp.clock"].advance(timedelta(minutes=2))
    assert client.post(f"{rp.prefix}/introspect", data=introspect, headers=rp.basic).get_json() == {"active": False}
    assert _refresh(client, rp, second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_scope(client: FlaskClient, rp: RP) -> None:
    first = _tokens(client, rp, scope="openid")
    response = _refresh(client, rp, first["refresh_token"], scope="openid email")
    assert response.get_json()["error"] == "invalid_scope"
    # Refused after the token was spent and its successor stored: both are rolled back.
    assert _refresh(client, rp, first["refresh_token"]).status_code == 200


def test_a_refused_refresh_stores_no_successor(app: Flask, client: FlaskClient, rp: RP) -> None:
    from idp.db import db
    from idp.oauth.models import Grant, RefreshToken

    first = _tokens(client, rp)
    tenant = Tenant.query.filter_by(account="acme").one()
    other = make_rp(tenant, client_name="Other Portal")
    stored = RefreshToken.query.count()
    assert _refresh(client, other, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    app.extensions["idp.clock"].advance(timedelta(minutes=61))  # idled out
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    app.extensions["idp.clock"].advance(timedelta(minutes=-61))
    for grant in Grant.query.all():
        grant.revoked_at = app.extensions["idp.clock"].now()
    db.session.commit()
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    db.session.expire_all()
    assert RefreshToken.query.count() == stored


@pytest.mark.parametrize("ending", ["idle", "revoked", "hard end"])
def test_a_dead_grants_refresh_token_is_refused_unspent_on_either_database(
    app: Flask, client: FlaskClient, rp: RP, ending: str,
) -> None:
    """One liveness rule in SQL for both statement forms: the token of a grant that has ended is
    not spent (SQLite and PostgreSQL agree), so nothing about it reads as reuse later."""
    from idp.db import db
    from idp.oauth.models import Grant, RefreshToken

    first = _tokens(client, rp)
    clock = app.extensions["idp.clock"]
    if ending == "idle":
        clock.advance(timedelta(minutes=61))
    for grant in Grant.query.all():
        if ending == "revoked":
            grant.revoked_at = clock.now()
        if ending == "hard end":
            grant.expires_at = clock.now()
    db.session.commit()
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    db.session.expire_all()
    assert [token.spent_at for token in RefreshToken.query.all()] == [None]
    assert not [grant for grant in Grant.query.all() if grant.revoked_at and ending != "revoked"], \
        "refusing a dead grant's token is not reuse: nothing is revoked"


def test_a_spent_refresh_token_brings_its_grant_and_the_persons_claims(app: Flask, client: FlaskClient, rp: RP) -> None:
    """The refresh statement selects only the person's columns a token response needs. On
    PostgreSQL the grant and the person are read-only snapshots (idp.db.detached_instance): every
    value selected is the stored one, and reading one not selected raises instead of reading as
    empty. On SQLite they are the session's own, whole."""
    from sqlalchemy.orm.exc import DetachedInstanceError

    from idp.accounts.models import User
    from idp.db import writes_in_ctes
    from idp.oauth.grants import spend_refresh_token
    from idp.oauth.models import Client

    first = _tokens(client, rp)
    tenant = Tenant.query.filter_by(account="acme").one()
    stored = User.query.filter_by(tenant_id=tenant.id).one()
    claims = ("id", "sub", "pool", "name", "email", "email_verified", "landing_page", "permissions_json")
    expected = {key: getattr(stored, key) for key in claims}
    password_hash = stored.password_hash
    client_pk = Client.query.filter_by(client_id=rp.client_id).one().id
    db.session.expunge_all()
    spent = spend_refresh_token(tenant, first["refresh_token"], client_pk)
    assert spent.user is not None and spent.grant.user_id == spent.user.id
    assert {key: getattr(spent.user, key) for key in claims} == expected
    assert spent.grant.scope == first["scope"] and spent.grant.issuer == rp.issuer
    if writes_in_ctes():
        assert spent.user not in db.session and spent.grant not in db.session
        with pytest.raises(DetachedInstanceError):
            _ = spent.user.password_hash
    else:
        assert spent.user.password_hash == password_hash
    db.session.rollback()


def test_a_refresh_is_one_statement_on_postgresql(app: Flask, client: FlaskClient, rp: RP, tmp_path: Any) -> None:
    """Spend, rotate and load the grant with its person: one statement on PostgreSQL (data-modifying
    CTEs), read from libpq's own trace of what went over the wire; SQLite, which has no such CTEs,
    takes three statements in the same transaction. The client comes from this process's cache
    (the code exchange just loaded it)."""
    from psycopg import pq

    from idp.db import db
    from tests.helpers import statements_run

    first = _tokens(client, rp)
    back_end = app.test_client()  # a relying party's back end: no browser cookie
    if db.engine.dialect.name != "postgresql":
        with statements_run() as statements:
            assert _refresh(back_end, rp, first["refresh_token"]).status_code == 200
        shapes = [(s.split(" ")[0], s.split(" FROM ")[1].split(" ")[0] if s.startswith("SELECT") else "")
                  for s in statements]
        assert shapes == [("UPDATE", ""), ("SELECT", "GRANTS"), ("INSERT", "")], statements
        return
    db.session.remove()
    db.engine.dispose()  # the pool's only connection is the one traced here, and the request's
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        traced = db.engine.raw_connection()
        traced.driver_connection.pgconn.trace(out.fileno())
        traced.driver_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        traced.close()
        assert _refresh(back_end, rp, first["refresh_token"]).status_code == 200
        traced = db.engine.raw_connection()
        traced.driver_connection.pgconn.untrace()
        traced.close()
    messages: list[str] = []
    for line in trace.read_text().splitlines():  # a statement's newlines continue its message
        if line.startswith(("F\t", "B\t")) or not messages:
            messages.append(line)
        else:
            messages[-1] += " " + line
    sent = [message.split("\t") for message in messages if message.startswith("F\t")]
    simple = [fields[3].strip() for fields in sent if fields[2] == "Query"]
    parsed = [" ".join(fields[3].split('"')[3].split()) for fields in sent if fields[2] == "Parse"]
    assert simple == ['"BEGIN"', '"COMMIT"'] and sum(fields[2] == "Execute" for fields in sent) == 1, sent
    assert parsed[-1].startswith("WITH spent AS (UPDATE refresh_tokens SET spent_at=$1")
    assert "INSERT INTO refresh_tokens" in parsed[-1] and "LEFT OUTER JOIN users" in parsed[-1]


def test_two_concurrent_refreshes_of_one_token_exactly_one_wins(app: Flask, client: FlaskClient, rp: RP) -> None:
    first = _tokens(client, rp)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def refresh() -> None:
        with app.app_context():
            racer = app.test_client()
            barrier.wait()
            results.append(_refresh(racer, rp, first["refresh_token"]).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [200, 400]


def test_refresh_idles_out_with_the_session_rules(app: Flask, client: FlaskClient, rp: RP) -> None:
    first = _tokens(client, rp)
    app.extensions["idp.clock"].advance(timedelta(minutes=50))
    second = _refresh(client, rp, first["refresh_token"]).get_json()  # use renews the idle timer
    app.extensions["idp.clock"].advance(timedelta(minutes=50))
    third = _refresh(client, rp, second["refresh_token"])
    assert third.status_code == 200
    app.extensions["idp.clock"].advance(timedelta(minutes=61))
    assert _refresh(client, rp, third.get_json()["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_stay_logged_in_refresh_outlives_the_idle_timeout(app: Flask, client: FlaskClient, rp: RP) -> None:
    from tests.helpers import sign_in

    sign_in(client, stay=True)
    code, verifier = get_code(client, rp, signed_in=True)
    first = exchange(client, rp, code, verifier).get_json()
    app.extensions["idp.clock"].advance(timedelta(days=3))
    assert _refresh(client, rp, first["refresh_token"]).status_code == 200


def test_log_out_revokes_refresh_tokens(client: FlaskClient, rp: RP) -> None:
    first = _tokens(client, rp)
    page = client.get(f"{rp.prefix}/logout")
    client.post(f"{rp.prefix}/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo(client, rp, first["access_token"]) == 401


def test_client_credentials(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:write users:read", redirect_uris=[])
    response = client.post("/a/acme/token", data={"grant_type": "client_credentials", "scope": "users:write"},
                           headers=service.basic)
    assert response.status_code == 200
    body = response.get_json()
    assert body["scope"] == "users:write" and "refresh_token" not in body and "id_token" not in body
    assert body["expires_in"] <= 600
    too_much = client.post("/a/acme/token", data={"grant_type": "client_credentials", "scope": "users:admin"},
                           headers=service.basic)
    assert too_much.get_json()["error"] == "invalid_scope"


def _header_and_jwk(client: FlaskClient, rp: RP, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.decode(token, _any_key(client, rp), algorithms=["ES256", "RS256"]).header
    keys = client.get(f"{rp.prefix}/jwks").get_json()["keys"]
    return header, next(k for k in keys if k["kid"] == header["kid"])


def test_access_tokens_are_es256_and_id_tokens_stay_rs256_by_default(client: FlaskClient, rp: RP) -> None:
    tokens = _tokens(client, rp)
    header, jwk = _header_and_jwk(client, rp, tokens["access_token"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    assert jwk["alg"] == "ES256" and jwk["kty"] == "EC", "signed by the tenant's published ES256 key"
    id_header, _ = _header_and_jwk(client, rp, tokens["id_token"])
    assert id_header["alg"] == "RS256", "ID tokens follow the client's id_token_signed_response_alg (RS256)"
    assert _userinfo(client, rp, tokens["access_token"]) == 200


def test_the_operator_can_sign_access_tokens_with_rs256(app: Flask, client: FlaskClient, rp: RP) -> None:
    app.config["IDP"] = replace(app.config["IDP"], access_token_alg="RS256")
    tokens = _tokens(client, rp)
    header, jwk = _header_and_jwk(client, rp, tokens["access_token"])
    assert header["alg"] == "RS256" and jwk["kty"] == "RSA"
    assert _userinfo(client, rp, tokens["access_token"]) == 200
    refreshed = _refresh(client, rp, tokens["refresh_token"]).get_json()
    assert _header_and_jwk(client, rp, refreshed["access_token"])[0]["alg"] == "RS256"


def test_client_credentials_needs_the_grant_type(client: FlaskClient, rp: RP) -> None:
    response = client.post("/a/acme/token", data={"grant_type": "client_credentials"}, headers=rp.basic)
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


def _assertion(key: RSAKey, client_id: str, audience: str, jti: str, lifetime: int = 60) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti, "iat": now, "exp": now + lifetime}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _key_jwt_service(tenant: Tenant) -> tuple[RSAKey, RP, dict[str, str]]:
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-key"}, private=True)
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[],
                      token_endpoint_auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False) | {"kid": "rp-key"}]})
    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": service.client_id}
    return key, service, form


@pytest.mark.parametrize("lifetime", [10**13, 31 * 365 * 86400, 3600])
def test_a_client_assertion_valid_for_long_is_refused(app: Flask, client: FlaskClient, lifetime: int) -> None:
    """RFC 7523 §3: the server may bound exp; an assertion is for one request (5 minutes at most)."""
    key, service, form = _key_jwt_service(make_tenant())
    assertion = _assertion(key, service.client_id, "http://localhost/a/acme/token", "jti-long", lifetime)
    response = client.post("/a/acme/token", data=form | {"client_assertion": assertion})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
    within = _assertion(key, service.client_id, "http://localhost/a/acme/token", "jti-ok", 280)
    assert client.post("/a/acme/token", data=form | {"client_assertion": within}).status_code == 200


@pytest.mark.parametrize("exp", ["9999999999", 1e300, True, None])
def test_a_client_assertion_with_a_strange_exp_is_refused(app: Flask, client: FlaskClient, exp: Any) -> None:
    key, service, form = _key_jwt_service(make_tenant())
    now = int(time.time())
    claims = {"iss": service.client_id, "sub": service.client_id, "aud": "http://localhost/a/acme/token",
              "jti": "jti-odd", "iat": now, "exp": exp}
    assertion = jwt.encode({"alg": "RS256", "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)
    response = client.post("/a/acme/token", data=form | {"client_assertion": assertion})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
    fractional = jwt.encode({"alg": "RS256", "kid": key.kid}, claims | {"jti": "jti-frac", "exp": now + 60.5}, key)
    response = client.post("/a/acme/token", data=form | {"client_assertion": fractional})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("jwks", [{"keys": ["x"]}, {"keys": [{"kty": "bogus"}]}, {"keys": []}])
def test_stored_keys_that_do_not_load_are_invalid_client(app: Flask, client: FlaskClient, jwks: Any) -> None:
    """Keys stored before registration validated them: the client cannot authenticate, no 500."""
    from idp.oauth.clients import find_client

    tenant = make_tenant()
    key, service, form = _key_jwt_service(tenant)
    row = find_client(tenant, service.client_id)
    assert row is not None
    row.client_metadata = row.client_metadata | {"jwks": jwks}
    db.session.commit()
    assertion = _assertion(key, service.client_id, "http://localhost/a/acme/token", "jti-1")
    response = client.post("/a/acme/token", data=form | {"client_assertion": assertion})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_private_key_jwt_with_jti_replay_check(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-key"}, private=True)
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[],
                      token_endpoint_auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False) | {"kid": "rp-key"}]})
    audience = "http://localhost/a/acme/token"
    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": service.client_id}
    assertion = _assertion(key, service.client_id, audience, "jti-1")
    assert client.post("/a/acme/token", data=form | {"client_assertion": assertion}).status_code == 200
    replay = client.post("/a/acme/token", data=form | {"client_assertion": assertion})
    assert replay.status_code in (400, 401) and replay.get_json()["error"] == "invalid_client"
    other_key = RSAKey.generate_key(2048, parameters={"kid": "rp-key"}, private=True)
    forged = _assertion(other_key, service.client_id, audience, "jti-2")
    refused = client.post("/a/acme/token", data=form | {"client_assertion": forged})
    assert refused.get_json()["error"] == "invalid_client"
    wrong_audience = _assertion(key, service.client_id, "http://localhost/a/other/token", "jti-3")
    assert client.post("/a/acme/token", data=form | {"client_assertion": wrong_audience}).status_code in (400, 401)


@pytest.mark.parametrize("form", [
    {},
    {"grant_type": ""},
    {"grant_type": "authorization_code"},
    {"grant_type": "authorization_code", "code": "x" * 5000},
    {"grant_type": "refresh_token", "refresh_token": "\u0000\u00ff"},
    {"grant_type": ["a", "b"]},
])
def test_bad_token_requests_are_400_class_json(client: FlaskClient, rp: RP, form: dict[str, Any]) -> None:
    response = client.post(f"{rp.prefix}/token", data=form, headers=rp.basic)
    assert 400 <= response.status_code < 500
    assert response.is_json and "error" in response.get_json()


def test_token_responses_are_not_cached(client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    response = exchange(client, rp, code, verifier)
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.usefixtures("smtp_mailbox")  # the reset link is mailed through a real SMTP server
def test_a_password_reset_revokes_refresh_tokens_and_tells_relying_parties(app: Flask, client: FlaskClient,
                                                                          rp: RP) -> None:
    from sqlalchemy import select

    from idp.db import db
    from idp.oauth.models import LogoutDelivery
    from idp.tenancy.service import get_tenant
    from tests.accounts.link_flows import reset_link, set_password

    tenant = get_tenant("acme")
    notified = make_rp(tenant, backchannel_logout_uri="http://127.0.0.1:9/logout")
    first = _tokens(client, rp)
    code, verifier = get_code(client, notified, signed_in=True)
    second = exchange(client, notified, code, verifier).get_json()
    link = reset_link(app, app.test_client())
    assert set_password(app.test_client(), link).status_code in (200, 303)
    assert _refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo(client, rp, second["access_token"]) == 401
    queued = db.session.execute(select(LogoutDelivery)).scalars().all()
    assert [d.uri for d in queued] == ["http://127.0.0.1:9/logout"]


def test_a_client_credentials_grant_needs_no_database_once_warm(app: Flask) -> None:
    """Tenant, client and signing keys come from the process's caches: no statement at all."""
    from tests.helpers import statements_run
    from tests.oauth.helpers import client_credentials_token

    tenant = make_tenant("svc")
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read")
    client_credentials_token(app.test_client(), service, "users:read")
    with statements_run() as statements:
        client_credentials_token(app.test_client(), service, "users:read")
    assert statements == []


def test_a_deleted_or_rotated_client_is_refused_at_once(app: Flask) -> None:
    """The cache never outlives a change made in this process (other processes hear it by NOTIFY)."""
    from idp.oauth.models import Client
    from tests.oauth.helpers import client_credentials_token

    tenant = make_tenant("svc")
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read")
    client_credentials_token(app.test_client(), service, "users:read")
    row = db.session.query(Client).filter_by(client_id=service.client_id).one()
    row.client_secret_hash = "0" * 64  # the operator rotated the secret
    db.session.commit()
    refused = app.test_client().post("/a/svc/token", headers=service.basic,
                                     data={"grant_type": "client_credentials", "scope": "users:read"})
    assert refused.status_code == 401
