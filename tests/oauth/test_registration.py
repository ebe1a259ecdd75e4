"""Dynamic client registration (RFC 7591, OIDC Registration) and management (RFC 7592)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from idp.cli import main
from idp.db import db
from idp.oauth.registration import create_initial_access_token
from idp.tenancy.models import Tenant
from tests.helpers import csrf_from, make_tenant, make_user, sign_in
from tests.oauth.helpers import REDIRECT_URI, RP, authorize, exchange, follow_local, pkce, query_of

WEB_CLIENT = {
    "client_name": "Third-party timetable",
    "redirect_uris": [REDIRECT_URI],
    "post_logout_redirect_uris": ["https://rp.example/bye"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid profile email offline_access",
}


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    tenant = make_tenant()
    make_user(tenant)
    return tenant


@pytest.fixture
def iat(tenant: Tenant) -> str:
    token = create_initial_access_token(tenant)
    db.session.commit()
    return token


def _register(client: FlaskClient, token: str | None, metadata: Any, prefix: str = "/a/acme", **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if "data" in kwargs:
        return client.post(f"{prefix}/register", headers=headers, **kwargs)
    return client.post(f"{prefix}/register", headers=headers, json=metadata)


def _registered(client: FlaskClient, iat: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    response = _register(client, iat, metadata or WEB_CLIENT)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _manage(client: FlaskClient, method: str, body: dict[str, Any], token: str | None = None, **kwargs: Any) -> Any:
    token = body["registration_access_token"] if token is None else token
    return client.open(body["registration_client_uri"], method=method,
                       headers={"Authorization": f"Bearer {token}"}, **kwargs)


# The initial access token


def test_registration_needs_an_initial_access_token(client: FlaskClient, iat: str) -> None:
    for token in (None, "wrong", iat + "x", "Bearer"):
        response = _register(client, token, WEB_CLIENT)
        assert response.status_code == 401, token
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "client_id" not in response.get_json()


def test_the_initial_access_token_is_not_taken_from_the_body(client: FlaskClient, iat: str) -> None:
    assert _register(client, None, WEB_CLIENT | {"access_token": iat}).status_code == 401


def test_an_expired_initial_access_token_is_refused(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    token = create_initial_access_token(tenant, timedelta(days=1))
    db.session.commit()
    assert _register(client, token, WEB_CLIENT).status_code == 201
    app.extensions["idp.clock"].advance(timedelta(days=1, seconds=1))
    assert _register(client, token, WEB_CLIENT).status_code == 401


def test_registration_returns_credentials_and_metadata(client: FlaskClient, iat: str) -> None:
    response = _register(client, iat, WEB_CLIENT | {"unknown_member": "ignored", "client_secret": "mine"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["client_id"] and body["client_secret"] and body["client_secret"] != "mine"
    assert len(body["client_secret"]) >= 43, "256 bits of randomness"
    assert body["registration_access_token"]
    assert body["registration_client_uri"] == f"http://localhost/a/acme/register/{body['client_id']}"
    assert body["client_secret_expires_at"] == 0
    assert isinstance(body["client_id_issued_at"], int)
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert "unknown_member" not in body


def test_each_registration_gets_its_own_client(client: FlaskClient, iat: str) -> None:
    first, second = _registered(client, iat), _registered(client, iat)
    assert first["client_id"] != second["client_id"]
    assert first["client_secret"] != second["client_secret"]
    assert first["registration_access_token"] != second["registration_access_token"]


# Metadata rules


@pytest.mark.parametrize("uris", [
    ["https://rp.example/cb#fragment"],
    ["https://rp.example/cb#"],
    ["http://rp.example/cb"],  # http off loopback
    ["http://127.0.0.1:8080/cb"],  # dynamic web clients are not operator clients: no http loopback
    ["http://localhost/cb"],
    ["rp.example/cb"],  # not absolute
    ["com.example.app:/cb"],  # private-use schemes are for native apps
    [REDIRECT_URI, "http://evil.example/cb"],  # one bad URI spoils the request
])
def test_bad_redirect_uris_of_web_clients_are_refused(client: FlaskClient, iat: str, uris: list[str]) -> None:
    response = _register(client, iat, WEB_CLIENT | {"redirect_uris": uris})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_redirect_uri"


def test_code_clients_must_name_a_redirect_uri(client: FlaskClient, iat: str) -> None:
    response = _register(client, iat, {k: v for k, v in WEB_CLIENT.items() if k != "redirect_uris"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_redirect_uri"


def test_native_apps_may_use_loopback_and_private_use_schemes(client: FlaskClient, iat: str) -> None:
    uris = ["http://127.0.0.1/cb", "http://[::1]/cb", "com.example.app:/cb"]
    body = _registered(client, iat, {
        "client_name": "Mobile app", "application_type": "native", "token_endpoint_auth_method": "none",
        "redirect_uris": uris, "grant_types": ["authorization_code", "refresh_token"],
    })
    assert body["redirect_uris"] == uris
    assert body["application_type"] == "native"
    assert "client_secret" not in body, "a public client has no secret"


@pytest.mark.parametrize("uri", ["http://rp.example/cb", "https://rp.example/cb#x", "myapp:/cb"])
def test_native_apps_still_refuse_other_uris(client: FlaskClient, iat: str, uri: str) -> None:
    response = _register(client, iat, {"application_type": "native", "token_endpoint_auth_method": "none",
                                       "redirect_uris": [uri]})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize("metadata", [
    WEB_CLIENT | {"response_types": ["token"]},
    WEB_CLIENT | {"grant_types": ["password"]},
    WEB_CLIENT | {"grant_types": ["implicit"]},
    WEB_CLIENT | {"token_endpoint_auth_method": "client_secret_jwt"},
    WEB_CLIENT | {"id_token_signed_response_alg": "none"},
    WEB_CLIENT | {"id_token_signed_response_alg": "HS256"},
    WEB_CLIENT | {"backchannel_logout_uri": "http://rp.example/bc"},
    WEB_CLIENT | {"backchannel_logout_uri": "http://127.0.0.1:9/bc"},  # no loopback for dynamic clients
    WEB_CLIENT | {"token_endpoint_auth_method": "private_key_jwt"},  # without jwks
    WEB_CLIENT | {"redirect_uris": "https://rp.example/cb"},  # not a list
    WEB_CLIENT | {"client_name": ["x"]},
    {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
])
def test_invalid_metadata_is_refused(client: FlaskClient, iat: str, metadata: dict[str, Any]) -> None:
    response = _register(client, iat, metadata)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


_PUBLIC_RSA = {"kty": "RSA", "e": "AQAB", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl"
               "UzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy"
               "_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJ"
               "LqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}


@pytest.mark.parametrize("jwks", [
    {"keys": ["x"]},
    {"keys": [{"kty": "bogus"}]},
    {"keys": []},
    {"keys": [{"kty": "RSA"}]},  # no modulus
    {"keys": [{"kty": "RSA", "e": "AQAB", "n": 5}]},
    {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},  # a shared secret is not a private_key_jwt key
    {"keys": [_PUBLIC_RSA | {"d": "AQAB"}]},  # private key material is never stored
    {"keys": [_PUBLIC_RSA] * 11},
    "not a set",
])
def test_jwks_that_do_not_load_are_refused(client: FlaskClient, iat: str, jwks: Any) -> None:
    metadata = WEB_CLIENT | {"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}
    response = _register(client, iat, metadata)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client_metadata"
    assert _register(client, iat, metadata | {"jwks": {"keys": [_PUBLIC_RSA]}}).status_code == 201


@pytest.mark.parametrize("body", [
    {"data": "redirect_uris=https://rp.example/cb", "content_type": "application/x-www-form-urlencoded"},
    {"data": "{not json", "content_type": "application/json"},
    {"data": "[1, 2]", "content_type": "application/json"},
    {"data": "[" * 5000, "content_type": "application/json"},  # known case 3: was a RecursionError, 500
    {"data": '{"a":' * 3000 + "1" + "}" * 3000, "content_type": "application/json"},
    {"data": json.dumps(WEB_CLIENT), "content_type": "text/plain"},
])
def test_a_body_that_is_not_a_json_object_is_refused(client: FlaskClient, iat: str, body: dict[str, str]) -> None:
    response = _register(client, iat, None, **body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


def test_dynamic_clients_are_never_first_party(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat, WEB_CLIENT | {"first_party": True})
    rp = RP(body["client_id"], body["client_secret"], "/a/acme")
    response = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    signed_in = sign_in(client, query_string={"request": request_id}, extra_form={"request": request_id})
    page = follow_local(client, signed_in)
    assert page.status_code == 200, "a consent page, not a code"
    assert "Third-party timetable" in page.get_data(as_text=True)


# Using the registered client


def _code_with_consent(client: FlaskClient, rp: RP, redirect_uri: str = REDIRECT_URI) -> tuple[str, str]:
    verifier, challenge = pkce()
    response = authorize(client, rp, redirect_uri=redirect_uri, code_challenge=challenge,
                         code_challenge_method="S256")
    assert response.status_code == 303, response.get_data(as_text=True)
    request_id = query_of(response.headers["Location"])["request"]
    response = sign_in(client, query_string={"request": request_id}, extra_form={"request": request_id})
    page = follow_local(client, response)
    assert page.status_code == 200, "consent page"
    response = client.post(f"/a/acme/authorize/consent/{request_id}",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "allow"})
    response = follow_local(client, response)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(redirect_uri)
    query = query_of(response.headers["Location"])
    assert query["iss"] == "http://localhost/a/acme" and query["state"] == "st-1"
    return query["code"], verifier


def test_a_registered_client_completes_the_code_flow(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    rp = RP(body["client_id"], body["client_secret"], "/a/acme")
    code, verifier = _code_with_consent(client, rp)
    response = exchange(client, rp, code, verifier)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["id_token"] and tokens["refresh_token"]
    info = client.get("/a/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200


def test_a_registered_native_app_completes_the_code_flow_on_any_loopback_port(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat, {
        "client_name": "Mobile app", "application_type": "native", "token_endpoint_auth_method": "none",
        "redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["authorization_code"],
    })
    rp = RP(body["client_id"], None, "/a/acme")
    code, verifier = _code_with_consent(client, rp, "http://127.0.0.1:51234/cb")
    response = client.post("/a/acme/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:51234/cb",
        "code_verifier": verifier, "client_id": rp.client_id,
    })
    assert response.status_code == 200, response.get_json()
    assert "refresh_token" not in response.get_json(), "refresh_token grant was not registered"


# Admin API scopes are the operator's to give (docs/decisions/admin-scopes-operator-only.md)


def test_registration_drops_admin_scopes(client: FlaskClient, iat: str) -> None:
    """RFC 7591 §2: the server may replace requested values; the response says what was registered."""
    body = _registered(client, iat, WEB_CLIENT | {"scope": "openid users:write business:write users:read email"})
    assert body["scope"] == "openid email"
    assert _manage(client, "GET", body).get_json()["scope"] == "openid email"


def test_registration_refuses_client_credentials(client: FlaskClient, iat: str) -> None:
    for grant_types in (["client_credentials"], ["authorization_code", "client_credentials"]):
        response = _register(client, iat, WEB_CLIENT | {"grant_types": grant_types, "scope": "users:write"})
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_client_metadata"


def test_an_update_cannot_add_admin_scopes_or_client_credentials(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    wider = WEB_CLIENT | {"client_id": body["client_id"], "scope": "openid users:write"}
    response = _manage(client, "PUT", body, json=wider)
    assert response.status_code == 200 and response.get_json()["scope"] == "openid"
    machine = wider | {"grant_types": ["authorization_code", "client_credentials"]}
    refused = _manage(client, "PUT", body, json=machine)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_client_metadata"


def _as_registered_before_the_fix(client_id: str) -> None:
    """A client that an older release let register admin scopes and client_credentials."""
    from idp.oauth.clients import find_client
    from idp.tenancy.service import get_tenant

    row = find_client(get_tenant("acme"), client_id)
    assert row is not None
    row.client_metadata = row.client_metadata | {
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid profile users:write business:write",
    }
    db.session.commit()


def test_a_self_registered_client_gets_no_admin_token(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat, WEB_CLIENT | {"scope": "openid users:write"})
    rp = RP(body["client_id"], body["client_secret"], "/a/acme")
    asked = client.post("/a/acme/token", data={"grant_type": "client_credentials", "scope": "users:write"},
                        headers=rp.basic)
    assert asked.status_code in (400, 401) and "access_token" not in asked.get_json()
    _as_registered_before_the_fix(body["client_id"])  # even a stored row that says otherwise
    for form in ({"scope": "users:write"}, {}):
        response = client.post("/a/acme/token", data={"grant_type": "client_credentials", **form}, headers=rp.basic)
        assert response.status_code in (400, 401), response.get_json()
        assert response.get_json()["error"] == "unauthorized_client"


def test_the_code_flow_never_grants_admin_scopes(client: FlaskClient, tenant: Tenant, iat: str) -> None:
    from tests.oauth.helpers import make_rp

    operator_third_party = make_rp(tenant, first_party=False, scope="openid profile users:write")
    body = _registered(client, iat)
    _as_registered_before_the_fix(body["client_id"])
    sign_in(client)
    for rp in (operator_third_party, RP(body["client_id"], body["client_secret"], "/a/acme")):
        verifier, challenge = pkce()
        page = follow_local(client, authorize(client, rp, scope="openid users:write business:write",
                                              code_challenge=challenge, code_challenge_method="S256"))
        assert page.status_code == 200 and "users:write" not in page.get_data(as_text=True), "consent page"
        request_id = page.get_data(as_text=True).split("/authorize/consent/")[1].split('"')[0]
        done = follow_local(client, client.post(f"/a/acme/authorize/consent/{request_id}", data={
            "csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "allow"}))
        tokens = exchange(client, rp, query_of(done.headers["Location"])["code"], verifier).get_json()
        assert tokens["scope"] == "openid"
        api = client.get("/a/acme/api/v1/business", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert api.status_code == 403


# RFC 7592: read, update, delete


def test_read_with_the_registration_access_token(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    response = _manage(client, "GET", body)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    read = response.get_json()
    assert read["client_id"] == body["client_id"]
    assert read["redirect_uris"] == WEB_CLIENT["redirect_uris"]
    assert read["registration_client_uri"] == body["registration_client_uri"]
    assert "client_secret" not in read and "registration_access_token" not in read, "secrets are shown once"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_management_needs_the_clients_own_token(client: FlaskClient, iat: str, method: str) -> None:
    body, other = _registered(client, iat), _registered(client, iat)
    update = {"json": WEB_CLIENT | {"client_id": body["client_id"], "client_name": "Hijacked"}}
    for token in ("", "wrong", other["registration_access_token"], iat, body["client_secret"]):
        response = _manage(client, method, body, token=token, **(update if method == "PUT" else {}))
        assert response.status_code == 401, (method, token)
    assert _manage(client, "GET", body).get_json()["client_name"] == WEB_CLIENT["client_name"]


def test_operator_clients_cannot_be_managed(client: FlaskClient, tenant: Tenant) -> None:
    from tests.oauth.helpers import make_rp

    rp = make_rp(tenant)
    response = client.get(f"/a/acme/register/{rp.client_id}", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401


def test_put_replaces_the_metadata(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    new_uri = "https://rp.example/new-callback"
    replacement = {
        "client_id": body["client_id"], "client_secret": "ignored", "client_name": "Renamed",
        "redirect_uris": [new_uri], "grant_types": ["authorization_code"],
    }
    response = _manage(client, "PUT", body, json=replacement)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated["client_name"] == "Renamed"
    assert updated["redirect_uris"] == [new_uri]
    assert updated["grant_types"] == ["authorization_code"]
    assert updated["post_logout_redirect_uris"] == [], "omitted members are gone, not kept"
    assert updated["scope"] != WEB_CLIENT["scope"]
    assert _manage(client, "GET", body).get_json()["redirect_uris"] == [new_uri]
    rp = RP(body["client_id"], body["client_secret"], "/a/acme")
    old = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    assert old.status_code == 400 and "Location" not in old.headers, "the old redirect URI is no longer registered"
    # the secret was not replaced by the one in the body
    response = client.post("/a/acme/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                           headers=rp.basic)
    assert response.status_code != 401


def test_put_is_validated_like_registration(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    bad = {"client_id": body["client_id"], "redirect_uris": ["http://rp.example/cb"]}
    response = _manage(client, "PUT", body, json=bad)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_redirect_uri"
    mismatch = WEB_CLIENT | {"client_id": "someone-else"}
    assert _manage(client, "PUT", body, json=mismatch).status_code == 400
    assert _manage(client, "PUT", body, data="not json", content_type="application/json").status_code == 400
    assert _manage(client, "GET", body).get_json()["redirect_uris"] == [REDIRECT_URI], "unchanged"


def test_delete_removes_the_client(client: FlaskClient, iat: str) -> None:
    body = _registered(client, iat)
    rp = RP(body["client_id"], body["client_secret"], "/a/acme")
    code, verifier = _code_with_consent(client, rp)
    tokens = exchange(client, rp, code, verifier).get_json()

    response = _manage(client, "DELETE", body)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert _manage(client, "GET", body).status_code == 401
    assert _manage(client, "DELETE", body).status_code == 401
    refused = client.post("/a/acme/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": tokens["refresh_token"]}, headers=rp.basic)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    page = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    assert page.status_code == 400 and "Location" not in page.headers


# The operator's CLI mints initial access tokens


def test_cli_registration_token_works_at_register(client: FlaskClient, tenant: Tenant, config: Any) -> None:
    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_PUBLIC_URL": "http://localhost",
        "IDP_BASE_DOMAIN": "localhost",
    }
    result = CliRunner().invoke(main, ["client", "registration-token", "--tenant", "acme", "--json"], env=env)
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["initial_access_token"]
    assert token
    db.session.expire_all()
    assert _register(client, token, WEB_CLIENT).status_code == 201
    result = CliRunner().invoke(main, ["client", "registration-token", "--tenant", "nope", "--json"], env=env)
    assert result.exit_code != 0


def test_moving_between_public_and_secret_methods_issues_or_drops_the_secret(app: Flask, client: FlaskClient) -> None:
    from idp.db import db
    from idp.oauth.registration import create_initial_access_token
    from idp.provisioning.tenants import create_tenant

    tenant = create_tenant("reg-move", "Reg Move")
    token = create_initial_access_token(tenant)
    db.session.commit()
    native = {"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"],
              "token_endpoint_auth_method": "none", "client_name": "App"}
    created = client.post("/a/reg-move/register", json=native, headers={"Authorization": f"Bearer {token}"})
    body = created.get_json()
    assert "client_secret" not in body
    manage = {"Authorization": f"Bearer {body['registration_access_token']}"}
    uri = f"/a/reg-move/register/{body['client_id']}"
    moved = client.put(uri, json=native | {"client_id": body["client_id"],
                                           "token_endpoint_auth_method": "client_secret_basic"}, headers=manage)
    assert moved.status_code == 200 and moved.get_json()["client_secret"]
    back = client.put(uri, json=native | {"client_id": body["client_id"]}, headers=manage)
    assert back.status_code == 200 and "client_secret" not in back.get_json()
    from idp.oauth.clients import find_client

    stored = find_client(tenant, body["client_id"])
    assert stored is not None and stored.client_secret_hash is None
