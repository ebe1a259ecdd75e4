"""A family (one primary guardian of the customer pool), its secondary members, invitations,
the adult attestation secondary members give once, and each person's last family choice."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

VIEW = "view"
ACCESS_LEVELS = (VIEW,)  # a secondary member's access; the primary's is always "full"
FULL = "full"


def new_family_id() -> str:
    """128 random bits in hex: operators type and paste it as an argument (`idp family show ID`),
    where an id starting with "-" (as URL-safe base64 may) would read as an option."""
    return secrets.token_hex(16)


class Family(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One family of a tenant. Its primary guardian is primary of no other family."""

    __tablename__ = "families"
    __table_args__ = (UniqueConstraint("tenant_id", "primary_user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_family_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    primary_user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FamilyMember(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A secondary member. Revoking access deletes the row (the audit trail keeps the story)."""

    __tablename__ = "family_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "family_id", "user_id"),
        Index("ix_family_members_tenant_user", "tenant_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("families.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    access: Mapped[str] = mapped_column(String(16), nullable=False, default=VIEW)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FamilyInvitation(TenantScoped, db.Model):  # type: ignore[name-defined]
    """An emailed invitation. Only the keyed hash of its 256-bit token is stored; it is pending
    until accepted, cancelled (by the primary, or because the primary changed) or expired."""

    __tablename__ = "family_invitations"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("families.id", ondelete="CASCADE"), index=True, nullable=False
    )
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    email_normalized: Mapped[str] = mapped_column(String(254), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    access: Mapped[str] = mapped_column(String(16), nullable=False, default=VIEW)
    invited_by: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def status(self, now: datetime) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.cancelled_at is not None:
            return "cancelled"
        if now >= self.expires_at:
            return "expired"
        return "pending"


class AdultAttestation(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A secondary member confirmed being 18 or older: when, and from which address."""

    __tablename__ = "adult_attestations"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ip: Mapped[str | None] = mapped_column(String(45))


class FamilyChoice(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The family a person picked last: preselected the next time the switcher shows."""

    __tablename__ = "family_choices"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    family_id: Mapped[str] = mapped_column(String(32), ForeignKey("families.id", ondelete="CASCADE"), nullable=False)
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
