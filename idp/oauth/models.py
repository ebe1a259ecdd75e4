"""Registered clients of a tenant (RFC 7591 metadata), with secrets stored only as keyed hashes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class Client(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # HMAC-SHA256 under a master-derived key: secrets are 256-bit random, so a fast keyed hash
    # is as strong as a password hash and keeps argon2 off the token path.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(16), nullable=False, default="staff")
    first_party: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    metadata_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def client_metadata(self) -> Mapping[str, Any]:
        """The metadata, decoded once per stored value (a grant reads it half a dozen times);
        read-only: assign the whole of it to change it."""
        raw = self.metadata_json
        decoded: tuple[str, Mapping[str, Any]] | None = getattr(self, "_decoded_metadata", None)
        if decoded is None or decoded[0] != raw:
            decoded = (raw, MappingProxyType(json.loads(raw)))
            self._decoded_metadata = decoded
        return decoded[1]

    @client_metadata.setter
    def client_metadata(self, value: Mapping[str, Any]) -> None:
        self.metadata_json = json.dumps(dict(value), sort_keys=True)

    @property
    def client_name(self) -> str:
        return str(self.client_metadata.get("client_name", self.client_id))

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("redirect_uris", []))

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("post_logout_redirect_uris", []))

    @property
    def grant_types(self) -> list[str]:
        return list(self.client_metadata.get("grant_types", ["authorization_code"]))

    @property
    def scope(self) -> str:
        return str(self.client_metadata.get("scope", "openid"))

    @property
    def token_endpoint_auth_method(self) -> str:
        return str(self.client_metadata.get("token_endpoint_auth_method", "client_secret_basic"))

    @property
    def self_registered(self) -> bool:
        """Registered through RFC 7591 (it has a registration access token), not by the operator."""
        return self.registration_token_hash is not None

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def application_type(self) -> str:
        return str(self.client_metadata.get("application_type", "web"))


class AuthorizationRequest(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A validated authorization request waiting for sign-in or consent (kept server-side).

    The browser carries only its random id; the parameters cannot be edited on the way.
    """

    __tablename__ = "authorization_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    params_json: Mapped[str] = mapped_column(Text, nullable=False)
    issuer: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # prompt=select_account: when the person answered the account (family) picker for this request.
    selected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def params(self) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.params_json)
        return value


class Grant(TenantScoped, db.Model):  # type: ignore[name-defined]
    """What one person allowed one client in one sign-in: the family of its codes and tokens.

    Revoking the grant revokes every refresh and access token issued under it.
    """

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_pk: Mapped[str] = mapped_column(
        String(32), ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(500), nullable=False)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    amr: Mapped[str] = mapped_column(String(100), nullable=False, default="pwd")
    acr: Mapped[str | None] = mapped_column(String(100))
    idp: Mapped[str | None] = mapped_column(String(64))  # the connection's slug of a federated sign-in
    # The family chosen in the sign-in that made the grant: its tokens keep it (idp/families).
    family_id: Mapped[str | None] = mapped_column(String(32))
    nonce: Mapped[str | None] = mapped_column(String(500))
    persistent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    issuer: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # No last-use column: the grant was last used when its current refresh token was issued.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthorizationCode(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A single-use code (stored as a keyed hash), bound to client, redirect URI, PKCE and nonce."""

    __tablename__ = "authorization_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    grant_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("grants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # The redirect_uri of the authorization request, empty when it named none (RFC 6749 §4.1.3).
    redirect_uri: Mapped[str] = mapped_column(String(2000), nullable=False)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(TenantScoped, db.Model):  # type: ignore[name-defined]
    """An opaque refresh token (keyed hash only); each use spends it and issues the next one."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    grant_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("grants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Consent(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The scopes a person has agreed to share with a third-party client."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "client_pk"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    client_pk: Mapped[str] = mapped_column(
        String(32), ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    scope: Mapped[str] = mapped_column(String(500), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RevokedAccessToken(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The `jti` of an access token revoked before its (short) expiry (RFC 7009)."""

    __tablename__ = "revoked_access_tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "jti"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    jti: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class UsedClientAssertion(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A `jti` of a private_key_jwt client assertion, kept until it expires (replay check)."""

    __tablename__ = "used_client_assertions"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id", "jti"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    jti: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class InitialAccessToken(TenantScoped, db.Model):  # type: ignore[name-defined]
    """Lets its holder register clients dynamically at one tenant (RFC 7591 §3)."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogoutDelivery(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A back-channel logout notice waiting to be POSTed to a client (a durable queue).

    It keeps the logout token's lasting claims (iss, aud, sub, sid, events); each delivery
    attempt signs a fresh token around them, so a retry a day later is not a token long expired.
    """

    __tablename__ = "logout_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_pk: Mapped[str] = mapped_column(
        String(32), ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    uri: Mapped[str] = mapped_column(String(2000), nullable=False)
    claims_json: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def claims(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.claims_json)
        return value
