"""UserInfo (OIDC Core §5.3), revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import RP, exchange, get_code, make_rp


@pytest.fixture
def rp(app: Flask) -> RP:
    tenant = make_tenant()
    make_user(tenant, name="Casey Coach")
    return make_rp(tenant)


def _tokens(client: FlaskClient, rp: RP, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = exchange(client, rp, *get_code(client, rp, **params)).get_json()
    return body


def _introspect(client: FlaskClient, rp: RP, token: str) -> dict[str, Any]:
    response = client.post(f"{rp.prefix}/introspect", data={"token": token}, headers=rp.basic)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def test_userinfo_by_header_get_and_post_and_form_body(client: FlaskClient, rp: RP) -> None:
    access = _tokens(client, rp)["access_token"]
    header = {"Authorization": f"Bearer {access}"}
    assert client.get(f"{rp.prefix}/userinfo", headers=header).get_json()["name"] == "Casey Coach"
    assert client.post(f"{rp.prefix}/userinfo", headers=header).status_code == 200
    assert client.post(f"{rp.prefix}/userinfo", data={"access_token": access}).status_code == 200


def test_userinfo_releases_claims_by_scope(client: FlaskClient, rp: RP) -> None:
    access = _tokens(client, rp, scope="openid")["access_token"]
    info = client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {access}"}).get_json()
    assert "email" not in info and "name" not in info and info["sub"]


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer not-a-jwt", "Basic abc", "Bearer a.b.c"])
def test_userinfo_refuses_missing_or_bad_tokens(client: FlaskClient, rp: RP, header: str) -> None:
    response = client.get(f"{rp.prefix}/userinfo", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_does_not_take_tokens_in_the_query(client: FlaskClient, rp: RP) -> None:
    access = _tokens(client, rp)["access_token"]
    assert client.get(f"{rp.prefix}/userinfo", query_string={"access_token": access}).status_code == 401


def test_client_credentials_tokens_have_no_userinfo(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant("svc-tenant")
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[])
    token = client.post(f"{service.prefix}/token", data={"grant_type": "client_credentials"},
                        headers=service.basic).get_json()["access_token"]
    assert client.get(f"{service.prefix}/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_introspection_of_live_tokens(client: FlaskClient, rp: RP) -> None:
    tokens = _tokens(client, rp)
    access = _introspect(client, rp, tokens["access_token"])
    assert access["active"] is True and access["client_id"] == rp.client_id and access["sub"]
    refresh = _introspect(client, rp, tokens["refresh_token"])
    assert refresh["active"] is True and refresh["scope"]


def test_another_client_learns_nothing_by_introspection(client: FlaskClient, rp: RP) -> None:
    """Only the client a token was issued to may introspect it (docs/decisions/introspection-own-tokens.md)."""
    from idp.tenancy.service import get_tenant

    tokens = _tokens(client, rp)
    tenant = get_tenant("acme")
    other = make_rp(tenant, first_party=False)
    service = make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[])
    service_token = client.post(f"{service.prefix}/token", data={"grant_type": "client_credentials"},
                                headers=service.basic).get_json()["access_token"]
    for asker, token in ((other, tokens["access_token"]), (other, tokens["refresh_token"]),
                         (service, tokens["access_token"]), (rp, service_token)):
        assert _introspect(client, asker, token) == {"active": False}
    assert _introspect(client, service, service_token)["active"] is True
    assert _introspect(client, rp, tokens["access_token"])["active"] is True


def test_revoking_an_access_token(client: FlaskClient, rp: RP) -> None:
    tokens = _tokens(client, rp)
    response = client.post(f"{rp.prefix}/revoke", data={"token": tokens["access_token"]}, headers=rp.basic)
    assert response.status_code == 200
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert client.get(f"{rp.prefix}/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    assert _introspect(client, rp, tokens["refresh_token"])["active"] is True  # the grant lives on


def test_revoking_a_refresh_token_revokes_the_grant(client: FlaskClient, rp: RP) -> None:
    tokens = _tokens(client, rp)
    client.post(f"{rp.prefix}/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                headers=rp.basic)
    assert _introspect(client, rp, tokens["refresh_token"]) == {"active": False}
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}


@pytest.mark.parametrize("hint", ["id_token", "bogus", "refresh_token"])
def test_any_token_type_hint_is_only_a_hint(client: FlaskClient, rp: RP, hint: str) -> None:
    """RFC 7009 §2.1: the server may ignore the hint and search every token type."""
    tokens = _tokens(client, rp)
    looked_up = client.post(f"{rp.prefix}/introspect", headers=rp.basic,
                            data={"token": tokens["access_token"], "token_type_hint": hint})
    assert looked_up.status_code == 200 and looked_up.get_json()["active"] is True
    response = client.post(f"{rp.prefix}/revoke", headers=rp.basic,
                           data={"token": tokens["access_token"], "token_type_hint": hint})
    assert response.status_code == 200, response.get_json()
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}


def test_revoking_an_unknown_token_is_fine(client: FlaskClient, rp: RP) -> None:
    response = client.post(f"{rp.prefix}/revoke", data={"token": "nothing-like-it"}, headers=rp.basic)
    assert response.status_code == 200


def test_revocation_and_introspection_need_client_authentication(client: FlaskClient, rp: RP) -> None:
    tokens = _tokens(client, rp)
    assert client.post(f"{rp.prefix}/introspect", data={"token": tokens["access_token"]}).status_code == 401 \
        or client.post(f"{rp.prefix}/introspect", data={"token": tokens["access_token"]}).status_code == 400
    bad = client.post(f"{rp.prefix}/revoke", data={"token": tokens["refresh_token"]},
                      headers=RP(rp.client_id, "wrong", rp.prefix).basic)
    assert bad.status_code == 401
    assert _introspect(client, rp, tokens["refresh_token"])["active"] is True


def test_a_public_client_cannot_introspect(app: Flask, client: FlaskClient, rp: RP) -> None:
    from idp.tenancy.service import get_tenant

    native = make_rp(get_tenant("acme"), public=True, redirect_uris=["http://127.0.0.1/cb"])
    response = client.post(f"{rp.prefix}/introspect", data={"token": "x", "client_id": native.client_id})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_another_clients_refresh_token_cannot_be_revoked(client: FlaskClient, rp: RP) -> None:
    from idp.tenancy.service import get_tenant

    other = make_rp(get_tenant("acme"))
    tokens = _tokens(client, rp)
    response = client.post(f"{rp.prefix}/revoke", data={"token": tokens["refresh_token"]}, headers=other.basic)
    assert response.status_code == 400
    assert _introspect(client, rp, tokens["refresh_token"])["active"] is True


def test_expired_access_tokens_are_inactive(app: Flask, client: FlaskClient, rp: RP) -> None:
    from datetime import timedelta

    tokens = _tokens(client, rp)
    app.extensions["idp.clock"].advance(timedelta(minutes=11))
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}


def test_oversized_or_malformed_protocol_requests_get_json_errors(client: FlaskClient, rp: RP) -> None:
    huge = client.post(f"{rp.prefix}/token", data={"grant_type": "x" * (1024 * 1024)}, headers=rp.basic)
    assert huge.status_code == 413 and huge.is_json and huge.get_json()["error"] == "invalid_request"
    garbage = client.post(f"{rp.prefix}/token", data=b"\xff\xfe\x00grant_type=%ff",
                          content_type="application/x-www-form-urlencoded", headers=rp.basic)
    assert 400 <= garbage.status_code < 500 and garbage.is_json
    wrong_method = client.get(f"{rp.prefix}/token")
    assert wrong_method.status_code == 405 and wrong_method.is_json


@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
@pytest.mark.parametrize("credentials", ["//46/w==", "/w==", "w6k6w6k="])
def test_basic_credentials_that_are_not_utf8_are_an_invalid_client(client: FlaskClient, rp: RP, endpoint: str,
                                                                   credentials: str) -> None:
    """Known case 2: bytes that are not UTF-8 (`//46/w==` is ff fe 3a ff) were a 500. The last
    is "é:é" in UTF-8, a valid pair for a client that does not exist."""
    response = client.post(f"{rp.prefix}/{endpoint}", data={"grant_type": "client_credentials", "token": "t"},
                           headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_revoking_twice_is_done_twice(client: FlaskClient, rp: RP) -> None:
    """RFC 7009 §2.2: revocation is idempotent (the parallel case is in tests/test_races.py)."""
    access = _tokens(client, rp)["access_token"]
    for _ in range(2):
        assert client.post(f"{rp.prefix}/revoke", data={"token": access}, headers=rp.basic).status_code == 200
    assert client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_personal_answers_are_never_stored_by_a_cache(client: FlaskClient, rp: RP) -> None:
    """Known case 5: userinfo and introspection carry personal data: Cache-Control no-store."""
    tokens = _tokens(client, rp)
    userinfo = client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    introspection = client.post(f"{rp.prefix}/introspect", data={"token": tokens["access_token"]}, headers=rp.basic)
    for response in (userinfo, introspection):
        assert response.status_code == 200 and response.get_json()["sub"]
        assert response.headers["Cache-Control"] == "no-store"
