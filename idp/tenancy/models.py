"""The tenant: one customer business, one OIDC issuer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import UTCDateTime, db, new_id

DEFAULT_IDLE_TIMEOUT_SECONDS = 3600
DEFAULT_PERSISTENT_SESSION_DAYS = 90
DEFAULT_RESET_LINK_SECONDS = 3600  # docs/architecture.md §Email: reset links live one hour
DEFAULT_VERIFY_LINK_SECONDS = 24 * 3600  # verification links a day
DEFAULT_INVITATION_LINK_SECONDS = 7 * 24 * 3600  # "set your password" for invited staff a week


class Tenant(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    idle_timeout_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_IDLE_TIMEOUT_SECONDS
    )
    persistent_session_days: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_PERSISTENT_SESSION_DAYS
    )
    reset_link_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_RESET_LINK_SECONDS, server_default=str(DEFAULT_RESET_LINK_SECONDS)
    )
    verify_link_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_VERIFY_LINK_SECONDS, server_default=str(DEFAULT_VERIFY_LINK_SECONDS)
    )
    invitation_link_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_INVITATION_LINK_SECONDS,
        server_default=str(DEFAULT_INVITATION_LINK_SECONDS),
    )
    # Second factor for staff: "off", "optional" or "required" (idp.mfa).
    second_factor_policy: Mapped[str] = mapped_column(
        String(16), nullable=False, default="off", server_default="off"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
