"""Creating, rotating and publishing signing keys; every look-up takes the tenant.

RS256 is always available (OIDC Core §15.1); ES256 is offered for clients that register
`id_token_signed_response_alg=ES256`. Rotation retires the active key of each algorithm and
keeps its public half in the JWKS for `RETIRED_KEY_RETENTION`, longer than any token it signed
can live.

Signing needs the private key on every token, so each process keeps the active key of each
(tenant, algorithm) for `ACTIVE_KEY_CACHE_SECONDS` (docs/decisions/signing-key-cache.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from flask import Flask, current_app
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import bindparam, select

from idp import clock, invalidation
from idp.caches import ExpiringCache
from idp.crypto import keyring
from idp.db import db, new_id
from idp.errors import ServerError
from idp.signing.models import SigningKey
from idp.tenancy.models import Tenant

ALGORITHMS = ("RS256", "ES256")
# Longest-lived thing we sign is the ID token (1 hour); add room for clock skew.
RETIRED_KEY_RETENTION = timedelta(hours=1, minutes=10)
# How long a process may keep signing with a key after `idp keys rotate` ran elsewhere. Harmless:
# the retired key stays published for RETIRED_KEY_RETENTION, far longer than this.
ACTIVE_KEY_CACHE_SECONDS = 30
# While rotations are heard (idp/invalidation.py), at most this long anyway: should a rotation go
# unheard, a token signed with the retired key at the end of this (it lives an hour) must still
# verify while the retired key stays published: 10 min + 1 h ≤ RETIRED_KEY_RETENTION.
ACTIVE_KEY_CACHE_SECONDS_EXACT = 600
MAX_CACHED_KEYS = 40_000  # per process: two algorithms of 20,000 tenants

PrivateKey = RSAKey | ECKey
KEY_GENERATOR = "idp.key_generator"


class NoSigningKey(ServerError, LookupError):
    """The tenant has no active key for the algorithm (run `idp keys rotate`)."""


@dataclass(frozen=True)
class _CachedKey:
    kid: str
    key: PrivateKey


class ActiveKeyCache:
    """This process's copy of each tenant's active signing keys, parsed, keyed by (tenant id, alg).

    Only the choice of the active key can go stale (keys themselves never change): for
    ACTIVE_KEY_CACHE_SECONDS, or ACTIVE_KEY_CACHE_SECONDS_EXACT while rotations elsewhere are heard
    over NOTIFY; rotation
    in this process forgets the tenant's entries at once. At most MAX_CACHED_KEYS are kept.
    """

    def __init__(self) -> None:
        self._entries: ExpiringCache[tuple[str, str], _CachedKey] = ExpiringCache(ACTIVE_KEY_CACHE_SECONDS,
                                                                                   MAX_CACHED_KEYS)

    def get(self, tenant_id: str, alg: str, now: datetime) -> _CachedKey | None:
        return self._entries.get((tenant_id, alg), now)

    @property
    def generation(self) -> int:
        return self._entries.generation

    def put(self, tenant_id: str, alg: str, kid: str, key: PrivateKey, now: datetime,
            seconds: float | None = None, seen: int | None = None) -> None:
        self._entries.put((tenant_id, alg), _CachedKey(kid, key), now, seconds, seen)

    def forget(self, tenant_id: str) -> None:
        for alg in ALGORITHMS:
            self._entries.forget((tenant_id, alg))

    def clear(self) -> None:
        self._entries.clear()


KeyGenerator = Callable[[str], PrivateKey]


def fresh_key(alg: str) -> PrivateKey:
    """A new private key for `alg`: RSA-2048 for RS256, P-256 for ES256."""
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    return ECKey.generate_key("P-256", private=True)


def init_app(app: Flask, generate: KeyGenerator = fresh_key) -> None:
    """`generate` makes each new key; the test suite hands out keys it made once per run."""
    app.extensions["idp.signing_keys"] = ActiveKeyCache()
    app.extensions[KEY_GENERATOR] = generate
    invalidation.on("keys", lambda app, tenant_id: app.extensions["idp.signing_keys"].forget(tenant_id))
    invalidation.on_missed("keys", lambda app: app.extensions["idp.signing_keys"].clear())


def _key_cache() -> ActiveKeyCache:
    cache: ActiveKeyCache = current_app.extensions["idp.signing_keys"]
    return cache


def create_signing_keys(tenant: Tenant) -> list[SigningKey]:
    """One active key per algorithm for `tenant` (the unit of work commits)."""
    return [_new_key(tenant, alg) for alg in ALGORITHMS]


def rotate_keys(tenant: Tenant) -> list[SigningKey]:
    now = clock.now()
    for key in _active_keys(tenant):
        key.retired_at = now
    db.session.flush()
    _key_cache().forget(tenant.id)
    invalidation.announce(db.session(), "keys", tenant.id)  # other processes at commit (else at expiry)
    return create_signing_keys(tenant)


_ACTIVE_KEY = (
    select(SigningKey.id, SigningKey.kid, SigningKey.private_sealed)
    .where(
        SigningKey.tenant_id == bindparam("tenant_id"), SigningKey.alg == bindparam("alg"),
        SigningKey.retired_at.is_(None),
    )
    .order_by(SigningKey.created_at.desc())
    .limit(1)
)


def active_key(tenant: Tenant, alg: str = "RS256") -> tuple[str, PrivateKey]:
    """The (kid, private key) that signs for `tenant` with `alg`: the cached choice (see
    ActiveKeyCache), else the database's."""
    now = clock.now()
    cache = _key_cache()
    cached = cache.get(tenant.id, alg, now)
    if cached is not None:
        return cached.kid, cached.key
    seen = cache.generation  # a rotation heard while we read wins over what we read
    row = db.session.execute(_ACTIVE_KEY, {"tenant_id": tenant.id, "alg": alg}).one_or_none()
    if row is None:
        raise NoSigningKey(f"tenant {tenant.account} has no active {alg} key")
    key = _open_private_key(row.id, row.private_sealed, alg)
    cache.put(tenant.id, alg, row.kid, key, now, invalidation.lifetime(
        current_app, ACTIVE_KEY_CACHE_SECONDS, ACTIVE_KEY_CACHE_SECONDS_EXACT), seen)
    return row.kid, key


def published_keys(tenant: Tenant) -> list[dict[str, Any]]:
    """Public JWKs: active keys and retired ones still within their retention."""
    cutoff = clock.now() - RETIRED_KEY_RETENTION
    rows = db.session.execute(
        select(SigningKey.public_jwk, SigningKey.retired_at)
        .where(SigningKey.tenant_id == tenant.id)
        .order_by(SigningKey.created_at.desc())
    ).all()
    return [json.loads(r.public_jwk) for r in rows if r.retired_at is None or r.retired_at > cutoff]


def _active_keys(tenant: Tenant) -> list[SigningKey]:
    return list(
        db.session.execute(
            select(SigningKey).where(SigningKey.tenant_id == tenant.id, SigningKey.retired_at.is_(None))
        ).scalars()
    )


def _new_key(tenant: Tenant, alg: str) -> SigningKey:
    generate: KeyGenerator = current_app.extensions[KEY_GENERATOR]
    private = generate(alg)
    kid = private.thumbprint()
    public = private.as_dict(private=False) | {"kid": kid, "alg": alg, "use": "sig"}
    key_id = new_id()
    key = SigningKey(
        id=key_id,
        tenant_id=tenant.id,
        kid=kid,
        alg=alg,
        public_jwk=json.dumps(public, sort_keys=True),
        private_sealed=keyring().seal(private.as_pem(private=True), f"signing-key:{key_id}"),
        created_at=clock.now(),
    )
    db.session.add(key)
    db.session.flush()
    return key


def _open_private_key(key_id: str, sealed: str, alg: str) -> PrivateKey:
    return _parse_private_key(keyring().unseal(sealed, f"signing-key:{key_id}"), alg)


def _parse_private_key(pem: bytes, alg: str) -> PrivateKey:
    """The key in `pem`, which only we wrote: AES-GCM authenticated it as this key's, and it was
    generated here. So the RSA key's consistency checks (primality of p and q, ≈ 27 ms of CPU, more
    than generating the key) are skipped, as `cryptography` allows for keys one generated:
    at 10,000 tenants, each worker's first ID token for a tenant paid them
    (docs/decisions/signing-key-cache.md)."""
    if alg != "RS256":
        return ECKey.import_key(pem)
    private = load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ServerError("a sealed RS256 signing key is not an RSA key")
    return RSAKey(private, pem)
