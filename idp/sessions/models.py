"""A browser session at one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class BrowserSession(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # HMAC of the cookie value; the value itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    persistent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Hard end of a "Stay logged in" session (the tenant's maximum); None for idle-only ones.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the person proved who they are in this session (RFC 8176 values, space-separated):
    # "pwd", then "pwd otp" once the second factor is passed (sign-in or step-up).
    amr: Mapped[str] = mapped_column(String(32), nullable=False, default="pwd", server_default="pwd")
    # The connection's slug when the person came in through an upstream identity provider ("fed").
    idp: Mapped[str | None] = mapped_column(String(64))
    # The sign-in pipeline's notices page was seen in this session (shown once per sign-in).
    notices_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The family this person chose for this session (idp/families), when they belong to several.
    family_id: Mapped[str | None] = mapped_column(String(32))
