"""The authorization code flow end to end through the Flask test client."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import REDIRECT_URI, authorize, exchange, get_code, make_rp, query_of


def _verify(client: FlaskClient, prefix: str, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get(f"{prefix}/jwks").get_json())
    return dict(jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims)


def test_code_flow_issues_verifiable_tokens(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant, name="Casey Coach")
    rp = make_rp(tenant)
    code, verifier = get_code(client, rp)
    response = exchange(client, rp, code, verifier)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"]
    id_token = _verify(client, rp.prefix, body["id_token"])
    assert id_token["iss"] == rp.issuer
    assert id_token["sub"] == user.sub
    assert id_token["aud"] == rp.client_id
    assert id_token["nonce"] == "n-1"
    assert id_token["tenant"] == "acme"
    assert id_token["email"] == "coach@example.com"
    assert id_token["name"] == "Casey Coach"
    for claim in ("exp", "iat", "auth_time", "at_hash", "sid", "amr", "acr"):
        assert claim in id_token
    access = _verify(client, rp.prefix, body["access_token"])
    assert access["client_id"] == rp.client_id and access["jti"] and access["scope"]
    info = client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["sub"] == user.sub


def test_authorization_response_carries_iss_and_state(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    rp = make_rp(tenant)
    get_code(client, rp)
    response = authorize(client, rp, code_challenge="x" * 43, code_challenge_method="S256")
    query = query_of(response.headers["Location"])
    assert query["iss"] == rp.issuer and query["state"] == "st-1"
    assert response.headers["Location"].startswith(REDIRECT_URI)
