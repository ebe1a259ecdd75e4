"""A tenant's signing key; the private half is sealed with the master key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class SigningKey(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "kid"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kid: Mapped[str] = mapped_column(String(64), nullable=False)
    alg: Mapped[str] = mapped_column(String(16), nullable=False)
    public_jwk: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    private_sealed: Mapped[str] = mapped_column(Text, nullable=False)  # AES-GCM, bound to id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set on rotation: the key stops signing but stays in the JWKS until tokens it signed expire.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
