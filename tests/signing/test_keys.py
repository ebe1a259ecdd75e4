"""Private signing keys are sealed at rest (docs/architecture.md §Storage): the database alone reveals nothing."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from flask import Flask
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import text

from idp.crypto import Keyring, SealedSecretError
from idp.db import db
from idp.signing.service import rotate_keys
from tests.helpers import make_tenant

PRIVATE_MEMBERS = {"RS256": ("d", "p", "q", "dp", "dq", "qi"), "ES256": ("d",)}


def _stored_rows() -> list[Any]:
    """The signing_keys rows as the database holds them (no model, no decryption)."""
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT id, alg, public_jwk, private_sealed FROM signing_keys")))


def _private_key(master_key: bytes, row: Any) -> RSAKey | ECKey:
    pem = Keyring(master_key).unseal(row.private_sealed, f"signing-key:{row.id}")
    return RSAKey.import_key(pem) if row.alg == "RS256" else ECKey.import_key(pem)


def _number_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture
def rows(app: Flask) -> list[Any]:
    tenant = make_tenant()
    rotate_keys(tenant)
    db.session.commit()
    found = _stored_rows()
    assert {row.alg for row in found} == {"RS256", "ES256"} and len(found) == 4
    return found


def test_the_stored_column_holds_no_pem_and_no_private_numbers(rows: list[Any], master_key: bytes) -> None:
    for row in rows:
        sealed = row.private_sealed
        raw = base64.urlsafe_b64decode(sealed)
        for marker in ("BEGIN", "PRIVATE KEY", "-----"):
            assert marker not in sealed and marker.encode() not in raw
        private = _private_key(master_key, row).as_dict(private=True)
        for member in PRIVATE_MEMBERS[row.alg]:
            value = str(private[member])
            assert value not in sealed, f"{member} in clear"
            assert _number_bytes(value) not in raw, f"{member} as bytes"
        public = json.loads(row.public_jwk)
        assert not set(PRIVATE_MEMBERS[row.alg]) & set(public), "the public JWK is public only"


def test_the_sealed_key_opens_with_the_master_key_only(rows: list[Any], master_key: bytes) -> None:
    for row in rows:
        key = _private_key(master_key, row)
        public = json.loads(row.public_jwk)
        opened = key.as_dict(private=False)
        assert all(opened[k] == public[k] for k in ("n", "e") if k in public)
        assert all(opened[k] == public[k] for k in ("x", "y") if k in public)
        with pytest.raises(SealedSecretError):
            Keyring(secrets.token_bytes(32)).unseal(row.private_sealed, f"signing-key:{row.id}")


def test_a_sealed_key_is_bound_to_its_row(rows: list[Any], master_key: bytes) -> None:
    """Copying one row's sealed key into another row does not make it open there."""
    first, second = rows[0], rows[1]
    with pytest.raises(SealedSecretError):
        Keyring(master_key).unseal(first.private_sealed, f"signing-key:{second.id}")


def test_a_server_makes_every_key_fresh(config: Any) -> None:
    """The suite hands out keys made once per run (tests/conftest.py: KeyPool); a server does not."""
    from idp.app import create_app
    from idp.signing.service import KEY_GENERATOR, fresh_key

    assert create_app(config).extensions[KEY_GENERATOR] is fresh_key
    first, second = fresh_key("RS256"), fresh_key("RS256")
    assert first.thumbprint() != second.thumbprint()
    assert fresh_key("ES256").thumbprint() != fresh_key("ES256").thumbprint()
    assert first.as_dict()["n"] and len(_number_bytes(first.as_dict()["n"])) == 256, "RSA-2048"


def test_every_tenant_and_every_rotation_gets_keys_of_its_own(app: Flask) -> None:
    tenants = [make_tenant(f"keys-{n}") for n in range(3)]
    for tenant in tenants:
        rotate_keys(tenant)
    db.session.commit()
    with db.engine.connect() as connection:
        kids = [row.kid for row in connection.execute(text("SELECT kid FROM signing_keys"))]
    assert len(kids) == 12 and len(set(kids)) == 12


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_key_that_signs_is_the_sealed_one_and_verifies_with_the_published_half(app: Flask, alg: str) -> None:
    """The RSA key is opened without cryptography's consistency checks (the seal authenticates it):
    what signs must still be exactly the stored key, and the JWKS must verify what it signs."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    from idp.signing.service import active_key, published_keys

    tenant = make_tenant("keys-open")
    db.session.commit()
    kid, key = active_key(tenant, alg)
    stored = next(row for row in _stored_rows() if row.alg == alg)
    assert key.thumbprint() == kid == json.loads(stored.public_jwk)["kid"]
    assert key.is_private and key.as_dict(private=True)["d"]
    token = jwt.encode({"alg": alg, "kid": kid}, {"sub": "someone"}, key)
    assert jwt.decode(token, KeySet.import_key_set({"keys": published_keys(tenant)})).claims == {"sub": "someone"}


def test_a_sealed_rs256_key_that_is_not_rsa_is_refused() -> None:
    """The RSA checks are skipped for our own keys only; what opens must still be an RSA key."""
    from idp.errors import ServerError
    from idp.signing.service import _parse_private_key

    ec_pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
    with pytest.raises(ServerError):
        _parse_private_key(ec_pem, "RS256")
