"""One counter per (tenant, limit, key): how often, and when last."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class ThrottleCounter(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "throttle_counters"
    __table_args__ = (UniqueConstraint("tenant_id", "bucket", "key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    bucket: Mapped[str] = mapped_column(String(32), nullable=False)  # the limit: "sign-in-account", "mail-ip", …
    # HMAC of the identifier or address: the table never holds an email or an IP in clear.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
