"""A person's TOTP factor and recovery codes. Secrets are sealed, codes hashed (docs/architecture.md §Storage)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class SecondFactor(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One TOTP factor per person, stored once its first code is confirmed (an enrolment in
    progress stores nothing: its secret is derived from the browser session, idp.mfa.service)."""

    __tablename__ = "second_factors"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # AES-GCM sealed base32 secret; the row id and the user id are the associated data.
    secret_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The last accepted RFC 6238 time step: a code of that step or an earlier one is refused.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RecoveryCode(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A single-use recovery code, stored only as a keyed hash."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "code_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
