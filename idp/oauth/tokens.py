"""Signed tokens of a tenant: RFC 9068 access tokens, ID tokens and their verification.

Everything is signed with the tenant's own keys (idp.signing) and carries the issuer the flow
started on; verification accepts only this tenant's keys and issuers, so a token minted at one
tenant is worthless at every other.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import clock
from idp.crypto import random_token
from idp.db import add_once, db
from idp.oauth.models import Grant, RevokedAccessToken
from idp.signing.service import active_key, published_keys
from idp.tenancy.models import Tenant

ACCESS_TOKEN_LIFETIME = 600  # RFC 9700 §2.2.1: short-lived; ≤ 10 minutes
ID_TOKEN_LIFETIME = 3600
VERIFY_ALGORITHMS = ["RS256", "ES256"]
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class AccessToken:
    """The verified claims of an access token."""

    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def scopes(self) -> list[str]:
        return str(self.claims.get("scope", "")).split()

    @property
    def family_id(self) -> str | None:
        family = self.claims.get("family")
        value = family.get("id") if isinstance(family, dict) else None
        return value if isinstance(value, str) else None

    @property
    def grant_id(self) -> str | None:
        value = self.claims.get("gid")
        return str(value) if value else None

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.claims["exp"]), tz=clock.now().tzinfo)


def sign(tenant: Tenant, claims: dict[str, Any], *, alg: str = "RS256", typ: str = "JWT") -> str:
    kid, key = active_key(tenant, alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])


def issue_access_token(
    tenant: Tenant, *, issuer: str, client_id: str, sub: str, scope: str,
    grant_id: str | None = None, auth_time: int | None = None, family: dict[str, str] | None = None,
) -> str:
    """An RFC 9068 JWT access token; `aud` is the issuer, whose userinfo and admin API accept it.

    Signed with IDP_ACCESS_TOKEN_ALG, ES256 unless the operator chose RS256
    (docs/decisions/es256-access-tokens.md).
    """
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": issuer, "sub": sub, "aud": issuer, "client_id": client_id, "scope": scope,
        "iat": now, "exp": now + ACCESS_TOKEN_LIFETIME, "jti": random_token(16), "tenant": tenant.account,
    }
    if grant_id:
        claims["gid"] = grant_id
    if auth_time:
        claims["auth_time"] = auth_time
    if family:
        claims["family"] = family  # what the portal's API enforces (view-only access)
    return sign(tenant, claims, alg=current_app.config["IDP"].access_token_alg, typ="at+jwt")


def half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash (OIDC Core §3.1.3.6): left half of the SHA-256 digest, base64url."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def tenant_key_set(tenant: Tenant) -> KeySet:
    return KeySet.import_key_set({"keys": published_keys(tenant)})


def decode(tenant: Tenant, token: str, issuers: list[str], *, check_exp: bool = True) -> dict[str, Any] | None:
    """The claims of a JWT signed by one of `tenant`'s keys and issued by one of `issuers`; else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return None
    try:
        decoded = jwt.decode(token, tenant_key_set(tenant), algorithms=VERIFY_ALGORITHMS)
        options: dict[str, Any] = {"iss": {"essential": True, "values": issuers}}
        if check_exp:
            options["exp"] = {"essential": True}
        registry = jwt.JWTClaimsRegistry(now=int(clock.now().timestamp()), leeway=30, **options)
        # joserfc checks `exp` whenever it is present: leave it out when an expired token is acceptable
        registry.validate(decoded.claims if check_exp else {k: v for k, v in decoded.claims.items() if k != "exp"})
    except (JoseError, ValueError, TypeError):
        return None
    claims: dict[str, Any] = dict(decoded.claims)
    if claims.get("tenant") not in (None, tenant.account):
        return None
    claims["_typ"] = decoded.header.get("typ")
    return claims


def verify_access_token(tenant: Tenant, token: str, issuers: list[str]) -> AccessToken | None:
    """A live access token of this tenant: signature, issuer, type, expiry, revocation, grant."""
    claims = decode(tenant, token, issuers)
    if claims is None or claims.pop("_typ") != "at+jwt" or "jti" not in claims or "client_id" not in claims:
        return None
    access = AccessToken(claims)
    revoked = db.session.execute(
        select(RevokedAccessToken.id).where(
            RevokedAccessToken.tenant_id == tenant.id, RevokedAccessToken.jti == access.jti
        )
    ).first()
    if revoked is not None:
        return None
    if access.grant_id is not None and not _grant_is_active(tenant, access.grant_id):
        return None
    return access


def revoke_access_token(tenant: Tenant, access: AccessToken) -> None:
    """Idempotent (RFC 7009 §2.2): revoking a revoked token, or the same one twice at once, is done."""
    exists = db.session.execute(
        select(RevokedAccessToken.id).where(
            RevokedAccessToken.tenant_id == tenant.id, RevokedAccessToken.jti == access.jti
        )
    ).first()
    if exists is None:
        add_once(RevokedAccessToken(tenant_id=tenant.id, jti=access.jti, expires_at=access.expires_at))


def _grant_is_active(tenant: Tenant, grant_id: str) -> bool:
    revoked_at = db.session.execute(
        select(Grant.revoked_at).where(Grant.tenant_id == tenant.id, Grant.id == grant_id)
    ).first()
    return revoked_at is not None and revoked_at[0] is None
