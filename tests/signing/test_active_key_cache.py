"""The per-process cache of active signing keys: bounded staleness, never across tenants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from idp.db import db
from idp.signing.service import ACTIVE_KEY_CACHE_SECONDS, active_key, published_keys
from tests.helpers import cli_in_another_process, make_tenant
from tests.oauth.helpers import RP, make_rp


def _service(tenant: Any) -> RP:
    return make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[])


def _access_token(client: FlaskClient, rp: RP) -> str:
    response = client.post(f"{rp.prefix}/token", data={"grant_type": "client_credentials"}, headers=rp.basic)
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["access_token"]
    return token


def _kid(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


def _published_kids(client: FlaskClient, rp: RP) -> set[str]:
    return {key["kid"] for key in client.get(f"{rp.prefix}/jwks").get_json()["keys"]}


def _rotate_in_another_process(config: Any, account: str) -> None:
    cli_in_another_process(config, "keys", "rotate", "--tenant", account)


def test_rotation_by_another_process_signs_with_the_new_key_within_the_bound(
    app: Flask, client: FlaskClient, config: Any
) -> None:
    tenant = make_tenant()
    rp = _service(tenant)
    old_kid = _kid(_access_token(client, rp))  # the cache now holds the key
    _rotate_in_another_process(config, tenant.account)
    new_kids = _published_kids(client, rp) - {old_kid}

    # Within the bound this process may still sign with the retired key, which stays published.
    before_bound = _access_token(client, rp)
    assert _kid(before_bound) in {old_kid} | new_kids
    assert old_kid in _published_kids(client, rp)
    jwt.decode(before_bound, KeySet.import_key_set(client.get(f"{rp.prefix}/jwks").get_json()))

    app.extensions["idp.clock"].advance(timedelta(seconds=ACTIVE_KEY_CACHE_SECONDS + 1))
    after_bound = _kid(_access_token(client, rp))
    assert after_bound != old_kid and after_bound in new_kids


def test_rotation_in_this_process_takes_effect_at_once(app: Flask, client: FlaskClient) -> None:
    from idp.signing.service import rotate_keys

    tenant = make_tenant()
    rp = _service(tenant)
    old_kid = _kid(_access_token(client, rp))
    rotate_keys(tenant)
    db.session.commit()
    assert _kid(_access_token(client, rp)) != old_kid


def test_the_cache_never_serves_one_tenants_key_to_another(app: Flask, client: FlaskClient) -> None:
    acme, other = make_tenant("acme"), make_tenant("other", "Other Studio")
    acme_rp, other_rp = _service(acme), _service(other)
    for _ in range(2):  # the second round is served from the cache
        acme_kid, other_kid = _kid(_access_token(client, acme_rp)), _kid(_access_token(client, other_rp))
        assert acme_kid in _published_kids(client, acme_rp) and acme_kid not in _published_kids(client, other_rp)
        assert other_kid in _published_kids(client, other_rp) and other_kid not in _published_kids(client, acme_rp)
    for alg in ("RS256", "ES256"):
        acme_key, other_key = active_key(acme, alg), active_key(other, alg)
        assert acme_key[0] != other_key[0]
        assert acme_key[0] in {k["kid"] for k in published_keys(acme)}
        assert other_key[0] in {k["kid"] for k in published_keys(other)}
