"""Tenant isolation: every credential of tenant A is worthless at tenant B.

Each refusal is paired with a control showing the same credential works at A (or B's own works at
B), so a test cannot pass because the credential was broken to begin with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt

from idp.db import db
from idp.oauth import tokens
from idp.oauth.registration import create_initial_access_token
from idp.sessions.web import COOKIE_NAME
from idp.signing.service import active_key
from idp.tenancy.models import Tenant
from tests.helpers import make_tenant, make_user, sign_in
from tests.oauth.helpers import REDIRECT_URI, RP, authorize, exchange, get_code, make_rp, query_of


@dataclass
class Side:
    tenant: Tenant
    rp: RP
    cc: RP  # a client_credentials client

    @property
    def prefix(self) -> str:
        return self.rp.prefix


@pytest.fixture
def a(app: Flask) -> Side:
    return _side("acme")


@pytest.fixture
def b(app: Flask) -> Side:
    return _side("other")


def _side(account: str) -> Side:
    tenant = make_tenant(account, f"{account.title()} Studio")
    make_user(tenant)  # the same email at both tenants: only the tenant tells them apart
    rp = make_rp(tenant)
    cc = make_rp(tenant, client_name="Reports", grant_types=["client_credentials"], redirect_uris=[],
                 scope="profile")
    return Side(tenant, rp, cc)


def _as_client_of(side: Side, rp: RP) -> RP:
    """`rp`'s credentials presented at `side`'s endpoints."""
    return RP(rp.client_id, rp.client_secret, side.prefix)


def _tokens(client: FlaskClient, rp: RP) -> dict[str, Any]:
    response = exchange(client, rp, *get_code(client, rp))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _refresh(client: FlaskClient, rp: RP, refresh_token: str) -> Any:
    return client.post(f"{rp.prefix}/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                       headers=rp.basic)


def _introspect(client: FlaskClient, rp: RP, token: str) -> dict[str, Any]:
    response = client.post(f"{rp.prefix}/introspect", data={"token": token}, headers=rp.basic)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _userinfo(client: FlaskClient, prefix: str, access_token: str) -> int:
    return client.get(f"{prefix}/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_client_id_of_a_is_unknown_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    response = authorize(client, _as_client_of(b, a.rp), code_challenge="c" * 43, code_challenge_method="S256")
    assert response.status_code == 400
    assert "Location" not in response.headers, "an unknown client gets an error page, never a redirect"
    assert "<h1>" in response.get_data(as_text=True)
    assert authorize(client, a.rp, code_challenge="c" * 43, code_challenge_method="S256").status_code == 303


def test_client_credentials_of_a_are_refused_at_bs_token_endpoint(client: FlaskClient, a: Side, b: Side) -> None:
    form = {"grant_type": "client_credentials"}
    assert client.post(f"{a.prefix}/token", data=form, headers=a.cc.basic).status_code == 200
    response = client.post(f"{b.prefix}/token", data=form, headers=a.cc.basic)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_code_of_a_is_refused_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    code, verifier = get_code(client, a.rp)
    with_bs_client = exchange(client, b.rp, code, verifier)
    assert with_bs_client.status_code == 400 and with_bs_client.get_json()["error"] == "invalid_grant"
    with_as_client = exchange(client, _as_client_of(b, a.rp), code, verifier)
    assert with_as_client.status_code == 401 and with_as_client.get_json()["error"] == "invalid_client"
    # Nothing happened to the code at A: it was never found at B, so it is neither spent nor revoked.
    response = exchange(client, a.rp, code, verifier)
    assert response.status_code == 200, response.get_json()


def test_access_token_of_a_is_refused_by_bs_userinfo_and_introspection(
    client: FlaskClient, a: Side, b: Side
) -> None:
    access = _tokens(client, a.rp)["access_token"]
    assert _userinfo(client, a.prefix, access) == 200
    assert _introspect(client, a.rp, access)["active"] is True
    assert _userinfo(client, b.prefix, access) == 401
    assert _introspect(client, b.rp, access) == {"active": False}


def test_client_credentials_token_of_a_is_inactive_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    access = client.post(f"{a.prefix}/token", data={"grant_type": "client_credentials"},
                         headers=a.cc.basic).get_json()["access_token"]
    assert _introspect(client, a.cc, access)["active"] is True
    assert _introspect(client, b.cc, access) == {"active": False}


def test_refresh_token_of_a_is_refused_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    issued = _tokens(client, a.rp)
    refresh = issued["refresh_token"]
    response = _refresh(client, b.rp, refresh)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert _introspect(client, b.rp, refresh) == {"active": False}
    # B's revocation endpoint answers 200 (RFC 7009 §2.2) but must not touch A's grant.
    revoked = client.post(f"{b.prefix}/revoke", data={"token": refresh, "token_type_hint": "refresh_token"},
                          headers=b.rp.basic)
    assert revoked.status_code == 200
    revoked = client.post(f"{b.prefix}/revoke", data={"token": issued["access_token"]}, headers=b.rp.basic)
    assert revoked.status_code == 200
    assert _introspect(client, a.rp, refresh)["active"] is True
    assert _userinfo(client, a.prefix, issued["access_token"]) == 200
    response = _refresh(client, a.rp, refresh)
    assert response.status_code == 200, "neither the refresh at B nor B's revocation spent or revoked it"


def test_registration_access_token_of_a_is_refused_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    initial = create_initial_access_token(a.tenant)
    db.session.commit()
    metadata = {"client_name": "Timetable", "redirect_uris": [REDIRECT_URI]}
    assert client.post(f"{b.prefix}/register", json=metadata,
                       headers={"Authorization": f"Bearer {initial}"}).status_code == 401
    response = client.post(f"{a.prefix}/register", json=metadata, headers={"Authorization": f"Bearer {initial}"})
    assert response.status_code == 201
    body = response.get_json()
    bearer = {"Authorization": f"Bearer {body['registration_access_token']}"}
    at_b = f"{b.prefix}/register/{body['client_id']}"
    assert client.get(at_b, headers=bearer).status_code == 401
    assert client.put(at_b, headers=bearer, json=metadata | {"client_id": body["client_id"]}).status_code == 401
    assert client.delete(at_b, headers=bearer).status_code == 401
    assert client.get(body["registration_client_uri"], headers=bearer).status_code == 200, "still alive at A"


def test_session_cookie_of_a_does_not_sign_in_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    sign_in(client, a.prefix)
    assert client.get(f"{a.prefix}/signed-in").status_code == 200
    cookie = client.get_cookie(COOKIE_NAME, path=a.prefix)
    assert cookie is not None and cookie.path == a.prefix, "the cookie is scoped to A's path"
    # Present A's cookie at B on purpose (as a browser would if the scope were wrong).
    client.set_cookie(COOKIE_NAME, cookie.value, path=b.prefix)
    assert client.get(f"{b.prefix}/signed-in").status_code == 302
    response = authorize(client, b.rp, code_challenge="c" * 43, code_challenge_method="S256")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{b.prefix}/login?request=")
    silent = authorize(client, b.rp, code_challenge="c" * 43, code_challenge_method="S256", prompt="none")
    assert query_of(silent.headers["Location"])["error"] == "login_required"


def test_session_cookie_of_a_does_not_sign_in_at_b_on_the_host_form(app: Flask, a: Side, b: Side) -> None:
    client = app.test_client()
    sign_in(client, "", base_url="http://acme.localhost")
    assert client.get("/signed-in", base_url="http://acme.localhost").status_code == 200
    cookie = client.get_cookie(COOKIE_NAME, domain="acme.localhost")
    assert cookie is not None
    client.set_cookie(COOKIE_NAME, cookie.value, domain="other.localhost")
    assert client.get("/signed-in", base_url="http://other.localhost").status_code == 302


def _forged(signer: Tenant, claims: dict[str, Any], *, kid: str, typ: str = "at+jwt") -> str:
    _, key = active_key(signer, "RS256")
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": typ}, claims, key, algorithms=["RS256"])


def test_a_token_signed_with_as_key_is_refused_where_bs_is_expected(
    client: FlaskClient, a: Side, b: Side
) -> None:
    issued = _tokens(client, b.rp)
    b_claims = jwt.decode(issued["access_token"], tokens.tenant_key_set(b.tenant)).claims
    b_kid, _ = active_key(b.tenant, "RS256")
    a_kid, _ = active_key(a.tenant, "RS256")
    b_issuer = "http://localhost/a/other"
    assert b_claims["iss"] == b_issuer
    claims = dict(b_claims) | {"jti": "forged-1"}

    # Control: the same claims signed with B's key are accepted by B.
    genuine = tokens.sign(b.tenant, claims, typ="at+jwt")
    assert tokens.verify_access_token(b.tenant, genuine, [b_issuer]) is not None
    assert _userinfo(client, b.prefix, genuine) == 200

    for kid in (b_kid, a_kid):  # B's kid forged in the header, and A's own kid
        forged = _forged(a.tenant, claims, kid=kid)
        assert tokens.decode(b.tenant, forged, [b_issuer]) is None
        assert tokens.verify_access_token(b.tenant, forged, [b_issuer]) is None
        assert _userinfo(client, b.prefix, forged) == 401
        assert _introspect(client, b.rp, forged) == {"active": False}


def test_an_id_token_of_a_is_no_hint_at_b(client: FlaskClient, a: Side, b: Side) -> None:
    id_token = _tokens(client, a.rp)["id_token"]
    assert tokens.decode(a.tenant, id_token, ["http://localhost/a/acme"]) is not None
    assert tokens.decode(b.tenant, id_token, ["http://localhost/a/acme", "http://localhost/a/other"]) is None
    response = client.get(f"{b.prefix}/end-session", query_string={"id_token_hint": id_token})
    assert response.status_code == 400


def test_issuers_do_not_cross(client: FlaskClient, a: Side, b: Side) -> None:
    """A's token is refused at B even if B were to trust A's issuer string: the keys differ."""
    issued = _tokens(client, a.rp)
    assert tokens.decode(b.tenant, issued["access_token"], ["http://localhost/a/acme"]) is None
