"""The outbox: one row per message, one row per delivery attempt (docs/architecture.md §Email).

A message is inserted in the same transaction as the change that caused it, so a reset link is
mailed if and only if the reset was recorded. Senders claim rows with a lease (`claimed_until`):
a sender that dies mid-delivery loses its claim when the lease runs out and another one retries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"  # gave up after the last retry; kept for the operator


class OutboxMessage(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # template name, e.g. reset_password
    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    # The rendered message, sealed with the master key: bodies carry live link tokens, which are
    # secrets at rest like any other (docs/architecture.md §Storage). Dropped once the message is delivered.
    payload_sealed: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "mail_delivery_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("mail_outbox.id", ondelete="CASCADE"), index=True, nullable=False
    )
    transport: Mapped[str] = mapped_column(String(16), nullable=False)  # "smtp" or "folder"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # "sent" or "failed"
    error: Mapped[str | None] = mapped_column(String(500))
