"""Discovery (OIDC Discovery §3/§4.3, RFC 8414) and the JWKS, with key rotation."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from idp.cli import main
from idp.db import db
from idp.signing.service import RETIRED_KEY_RETENTION, rotate_keys
from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import RP, exchange, get_code, make_rp

PATH_ISSUER = "http://localhost/a/acme"
HOST_ISSUER = "http://acme.localhost"

# How to knock on each advertised endpoint: the method, and what it must not answer.
ENDPOINTS = {
    "authorization_endpoint": "GET",
    "token_endpoint": "POST",
    "userinfo_endpoint": "GET",
    "jwks_uri": "GET",
    "registration_endpoint": "POST",
    "revocation_endpoint": "POST",
    "introspection_endpoint": "POST",
    "end_session_endpoint": "GET",
}


def _discovery(client: FlaskClient, issuer: str) -> Any:
    return client.get(f"{issuer}/.well-known/openid-configuration")


def _jwks(client: FlaskClient, prefix: str = "/a/acme") -> dict[str, Any]:
    response = client.get(f"{prefix}/jwks")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _header(token: str) -> dict[str, Any]:
    return dict(jws.extract_compact(token.encode()).protected)


def _verify(client: FlaskClient, token: str, prefix: str = "/a/acme") -> dict[str, Any]:
    keys = KeySet.import_key_set(_jwks(client, prefix))  # type: ignore[arg-type]
    return dict(jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims)


def _id_token(client: FlaskClient, rp: RP) -> str:
    response = exchange(client, rp, *get_code(client, rp))
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["id_token"]
    return token


@pytest.mark.parametrize("issuer", [PATH_ISSUER, HOST_ISSUER])
def test_issuer_is_the_prefix_the_document_was_fetched_from(app: Flask, client: FlaskClient, issuer: str) -> None:
    make_tenant()
    response = _discovery(client, issuer)
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["issuer"] == issuer
    for key in ENDPOINTS:
        assert doc[key].startswith(issuer + "/"), (key, doc[key])
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert "openid" in doc["scopes_supported"]
    assert set(doc["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert "password" not in doc["grant_types_supported"]
    assert doc["backchannel_logout_supported"] is True


@pytest.mark.parametrize("issuer", [PATH_ISSUER, HOST_ISSUER])
def test_discovery_is_cacheable(app: Flask, client: FlaskClient, issuer: str) -> None:
    make_tenant()
    response = _discovery(client, issuer)
    assert response.cache_control.public is True
    assert response.cache_control.max_age and response.cache_control.max_age > 0
    assert response.mimetype == "application/json"
    jwks = client.get(f"{issuer}/jwks")
    assert jwks.cache_control.public is True and jwks.cache_control.max_age


@pytest.mark.parametrize("issuer", [PATH_ISSUER, HOST_ISSUER])
def test_every_advertised_endpoint_answers(app: Flask, client: FlaskClient, issuer: str) -> None:
    make_tenant()
    doc = _discovery(client, issuer).get_json()
    for key, method in ENDPOINTS.items():
        response = client.open(doc[key], method=method)
        assert response.status_code not in (404, 405), (key, doc[key], response.status_code)
        assert response.status_code < 500, (key, response.status_code)


def test_discovery_of_unknown_tenant_is_not_a_document(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    response = client.get("/a/nobody/.well-known/openid-configuration")
    assert response.status_code == 404
    assert "issuer" not in (response.get_json(silent=True) or {})


def test_each_tenant_has_its_own_discovery_and_keys(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    make_tenant("other", "Other Studio")
    assert _discovery(client, "http://localhost/a/other").get_json()["issuer"] == "http://localhost/a/other"
    acme = {k["kid"] for k in _jwks(client)["keys"]}
    other = {k["kid"] for k in _jwks(client, "/a/other")["keys"]}
    assert acme and other and not acme & other


def test_jwks_publishes_public_rs256_and_es256_keys_with_kid(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    keys = _jwks(client)["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert "d" not in key and "p" not in key and "q" not in key, "private material must never be published"
    assert len({k["kid"] for k in keys}) == len(keys)
    KeySet.import_key_set({"keys": keys})  # well-formed


def test_rotation_keeps_the_retired_key_published_until_its_retention_ends(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    rp = make_rp(tenant)
    before = _id_token(client, rp)
    old_kid = _header(before)["kid"]
    old_kids = {k["kid"] for k in _jwks(client)["keys"]}

    rotate_keys(tenant)
    db.session.commit()

    keys = _jwks(client)["keys"]
    kids = {k["kid"] for k in keys}
    assert old_kids < kids and len(kids) == 4, "new keys added, retired ones still published"
    assert _verify(client, before)["aud"] == rp.client_id, "a token signed before rotation still verifies"

    after = _id_token_signed_in(client, rp)
    new_kid = _header(after)["kid"]
    assert new_kid != old_kid and new_kid in kids - old_kids, "new tokens are signed with the new key"
    _verify(client, after)

    app.extensions["idp.clock"].advance(RETIRED_KEY_RETENTION - timedelta(minutes=1))
    assert old_kid in {k["kid"] for k in _jwks(client)["keys"]}
    app.extensions["idp.clock"].advance(timedelta(minutes=2))
    kids_later = {k["kid"] for k in _jwks(client)["keys"]}
    assert old_kid not in kids_later and not old_kids & kids_later
    assert new_kid in kids_later
    with pytest.raises(InvalidKeyIdError):
        _verify(client, before)


def test_retention_outlives_every_token_the_key_signed() -> None:
    from idp.oauth.backchannel import LOGOUT_TOKEN_LIFETIME
    from idp.oauth.tokens import ACCESS_TOKEN_LIFETIME, ID_TOKEN_LIFETIME

    longest = max(ACCESS_TOKEN_LIFETIME, ID_TOKEN_LIFETIME, LOGOUT_TOKEN_LIFETIME)
    assert timedelta(seconds=longest) < RETIRED_KEY_RETENTION


def test_cli_keys_rotate_publishes_new_keys(app: Flask, client: FlaskClient, config: Any) -> None:
    make_tenant()
    old = {k["kid"] for k in _jwks(client)["keys"]}
    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_PUBLIC_URL": "http://localhost",
        "IDP_BASE_DOMAIN": "localhost",
    }
    result = CliRunner().invoke(main, ["keys", "rotate", "--tenant", "acme"], env=env)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    new = {k["kid"] for k in _jwks(client)["keys"]}
    assert old < new and len(new - old) == 2


def test_es256_client_gets_es256_id_tokens(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    es_rp = make_rp(tenant, id_token_signed_response_alg="ES256")
    rs_rp = make_rp(tenant)
    es_token = _id_token(client, es_rp)
    header = _header(es_token)
    assert header["alg"] == "ES256"
    published = {k["kid"]: k for k in _jwks(client)["keys"]}
    assert published[header["kid"]]["alg"] == "ES256" and published[header["kid"]]["kty"] == "EC"
    claims = _verify(client, es_token)
    assert claims["aud"] == es_rp.client_id and claims["at_hash"]
    assert _header(_id_token_signed_in(client, rs_rp))["alg"] == "RS256"


def _id_token_signed_in(client: FlaskClient, rp: RP) -> str:
    response = exchange(client, rp, *get_code(client, rp, signed_in=True))
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["id_token"]
    return token
