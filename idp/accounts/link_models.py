"""Account links (verify email, reset password, invitation) and request counters for throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name
INVITATION = "invitation"
PURPOSES = (VERIFY_EMAIL, RESET_PASSWORD, INVITATION)


class AccountLink(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One emailed link. Only the keyed hash of its 256-bit token is stored."""

    __tablename__ = "account_links"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # The address the link was mailed to: proving you read it proves nothing about a later one.
    email_normalized: Mapped[str] = mapped_column(String(254), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
