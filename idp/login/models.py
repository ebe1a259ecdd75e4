"""Counters of failed sign-in attempts, per account identifier and per client IP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class SignInFailures(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "sign_in_failures"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "account" or "ip"
    # HMAC of the identifier or address: the table never holds an email or an IP in clear.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
