"""Connections to upstream identity providers, the identities linked through them, and the
sign-ins in flight."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

KINDS = ("google", "microsoft", "oidc", "saml")
OIDC_KINDS = ("google", "microsoft", "oidc")
POOLS = ("staff", "customer")


class Connection(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One upstream identity provider of a tenant ("Continue with NAME")."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    pool: Mapped[str] = mapped_column(String(16), nullable=False, default="staff")
    # OIDC kinds: the client at the upstream; its secret sealed with the master key, bound to this
    # row's id (idp.crypto.Keyring.seal). SAML keeps its own in SamlSettings.
    client_id: Mapped[str | None] = mapped_column(String(300))
    client_secret_sealed: Mapped[str | None] = mapped_column(Text)
    discovery_url: Mapped[str | None] = mapped_column(String(500))
    entra_tenant: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(300), nullable=False, default="openid email profile")
    hosted_domains_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    sso_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    jit: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The upstream's own multi-factor sign-in (its amr has "mfa") counts as the second factor here.
    trust_upstream_mfa: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def hosted_domains(self) -> list[str]:
        return list(json.loads(self.hosted_domains_json))


class ConnectionDomain(TenantScoped, db.Model):  # type: ignore[name-defined]
    """An email domain whose people email-first sign-in sends to a connection. One connection
    per domain within a tenant (the unique key); other tenants never see the claim."""

    __tablename__ = "connection_domains"
    __table_args__ = (UniqueConstraint("tenant_id", "domain"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    domain: Mapped[str] = mapped_column(String(253), nullable=False)


class FederatedIdentity(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A local account linked to (connection, the upstream's stable subject)."""

    __tablename__ = "federated_identities"
    __table_args__ = (UniqueConstraint("connection_id", "subject"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FederatedSignIn(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One trip to the upstream and back: what was sent (state, nonce, PKCE verifier), the
    browser it belongs to, and, once the upstream answered, who it vouched for."""

    __tablename__ = "federated_sign_ins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    browser_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    code_verifier_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))  # the pending authorization request
    return_base: Mapped[str] = mapped_column(String(300), nullable=False)  # the issuer form it began at
    persistent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set by the callback once the upstream's ID token checked out (sealed JSON of the identity).
    identity_sealed: Mapped[str | None] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SamlSettings(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A SAML connection's IdP metadata and our SP key pair (the private key sealed)."""

    __tablename__ = "saml_settings"

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    idp_entity_id: Mapped[str] = mapped_column(String(500), nullable=False)
    idp_metadata: Mapped[str] = mapped_column(Text, nullable=False)
    metadata_url: Mapped[str | None] = mapped_column(String(500))
    sp_key_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    sp_cert_pem: Mapped[str] = mapped_column(Text, nullable=False)
    email_attribute: Mapped[str | None] = mapped_column(String(200))


class SamlAssertion(TenantScoped, db.Model):  # type: ignore[name-defined]
    """An assertion id already used, kept until the assertion expires: a replay is refused on every node."""

    __tablename__ = "saml_assertions"
    __table_args__ = (UniqueConstraint("connection_id", "assertion_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    assertion_id: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
