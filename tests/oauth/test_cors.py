"""CORS for browser apps (idp/oauth/cors.py): the origins of a client's redirect URIs may read its
answers from the token, revocation and UserInfo endpoints; discovery and the JWKS are public;
nothing else is ever readable cross-origin, and nothing allows credentials."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.oauth.cors import origin_of
from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import RP, get_code, make_rp

SPA = "https://rp.example"  # the origin of tests.oauth.helpers.REDIRECT_URI
ELSEWHERE = "https://evil.example"


@pytest.fixture
def spa(app: Flask) -> RP:
    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    return make_rp(tenant, public=True, application_type="web")


def _no_credentials(response: Any) -> None:
    assert "Access-Control-Allow-Credentials" not in response.headers


def _tokens(client: FlaskClient, spa: RP, origin: str, query: str = "") -> Any:
    code, verifier = get_code(client, spa)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://rp.example/callback",
            "code_verifier": verifier or "", "client_id": spa.client_id}
    return client.post(f"{spa.prefix}/token{query}", data=form, headers={"Origin": origin})


@pytest.mark.parametrize("query", ["", "?via=flask"])  # the WSGI front takes the first, Flask's view the second
def test_the_apps_own_origin_reads_the_token_answer(client: FlaskClient, spa: RP, query: str) -> None:
    response = _tokens(client, spa, SPA, query)
    assert response.status_code == 200 and response.get_json()["access_token"]
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert "Origin" in response.headers.getlist("Vary")
    _no_credentials(response)


@pytest.mark.parametrize("query", ["", "?via=flask"])
def test_another_origin_cannot_read_the_token_answer(client: FlaskClient, spa: RP, query: str) -> None:
    response = _tokens(client, spa, ELSEWHERE, query)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers.getlist("Vary")  # a cache must not serve one origin's answer to another


def test_userinfo_and_revocation_follow_the_tokens_client(client: FlaskClient, spa: RP) -> None:
    access = _tokens(client, spa, SPA).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    ours = client.get(f"{spa.prefix}/userinfo", headers=bearer | {"Origin": SPA})
    theirs = client.get(f"{spa.prefix}/userinfo", headers=bearer | {"Origin": ELSEWHERE})
    assert ours.status_code == theirs.status_code == 200
    assert ours.headers["Access-Control-Allow-Origin"] == SPA
    assert "Access-Control-Allow-Origin" not in theirs.headers
    revoked = client.post(f"{spa.prefix}/revoke", data={"token": access, "client_id": spa.client_id},
                          headers={"Origin": SPA})
    assert revoked.status_code == 200 and revoked.headers["Access-Control-Allow-Origin"] == SPA
    _no_credentials(ours)
    _no_credentials(revoked)


def test_an_origin_of_another_client_reads_nothing(app: Flask, client: FlaskClient, spa: RP) -> None:
    from idp.tenancy.service import get_tenant

    other = make_rp(get_tenant("acme"), public=True, application_type="web",
                    redirect_uris=["https://other.example/cb"])
    assert other.client_id != spa.client_id
    with_other_origin = _tokens(client, spa, "https://other.example")
    assert with_other_origin.status_code == 200
    assert "Access-Control-Allow-Origin" not in with_other_origin.headers


@pytest.mark.parametrize(("path", "method"), [("/token", "POST"), ("/userinfo", "GET"), ("/revoke", "POST")])
def test_preflights_of_client_endpoints_are_granted_for_their_methods(client: FlaskClient, spa: RP, path: str,
                                                                      method: str) -> None:
    response = client.options(f"{spa.prefix}{path}", headers={
        "Origin": SPA, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    _no_credentials(response)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_public_documents_are_readable_from_anywhere(client: FlaskClient, spa: RP, path: str) -> None:
    response = client.get(f"{spa.prefix}{path}", headers={"Origin": ELSEWHERE})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    _no_credentials(response)


@pytest.mark.parametrize("path", ["/authorize?response_type=code&client_id=x", "/sign-in", "/forgot-password",
                                  "/api/v1/business", "/register", "/end-session", "/introspect"])
@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_nothing_else_carries_cors_headers(client: FlaskClient, spa: RP, path: str, method: str) -> None:
    response = client.open(f"{spa.prefix}{path}", method=method,
                           headers={"Origin": SPA, "Access-Control-Request-Method": "GET"})
    assert not [name for name, _ in response.headers.items() if name.lower().startswith("access-control-")]


@pytest.mark.parametrize(("uri", "origin"), [
    ("https://rp.example/callback", "https://rp.example"),
    ("https://rp.example:443/cb", "https://rp.example"),
    ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080"),
    ("https://[::1]:9000/cb?x=1", "https://[::1]:9000"),
    ("HTTPS://RP.EXAMPLE/cb", "https://rp.example"),
    ("com.example.app:/callback", None),
    ("https://rp.example:99999/cb", None),
    ("https:///cb", None),
])
def test_the_origin_of_a_redirect_uri(uri: str, origin: str | None) -> None:
    assert origin_of(uri) == origin
