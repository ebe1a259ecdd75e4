"""Audit events of a tenant."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class AuditEvent(TenantScoped, db.Model):  # type: ignore[name-defined]
    """Something decided that someone may later ask about ("who accepted terms 2025-01, and when?").

    `user_id` is kept as plain text, not a foreign key: the trail outlives the account it names.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_user", "tenant_id", "user_id"),
        Index("ix_audit_events_tenant_newest", "tenant_id", "created_at", "id"),  # the API's pages
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)  # "user", or "client:<client_id>"
    detail_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def detail(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.detail_json)
        return value
