"""The tenant: one customer business, one OIDC issuer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import UTCDateTime, db, new_id

DEFAULT_IDLE_TIMEOUT_SECONDS = 3600
DEFAULT_PERSISTENT_SESSION_DAYS = 90


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
