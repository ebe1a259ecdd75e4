"""Delivering the outbox: claim due messages, hand each to the transport, record the attempt.

Any number of senders (a thread in every `idp serve` worker, `idp mail send-pending` from cron)
may run at once on one database. A sender claims rows with one conditional UPDATE that only
matches rows still due, so two senders never both win a row, on SQLite or PostgreSQL; on
PostgreSQL the candidates are first picked with FOR UPDATE SKIP LOCKED so senders do not queue
behind each other. Delivery happens outside any transaction; the outcome is written only if the
claim is still ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from idp import clock
from idp.crypto import SealedSecretError, random_token
from idp.db import db
from idp.mail.backoff import CLAIM_LEASE, gives_up, retry_delay
from idp.mail.message import build_message
from idp.mail.models import FAILED, PENDING, SENDING, SENT, DeliveryAttempt, OutboxMessage
from idp.mail.outbox import Payload
from idp.mail.transports import DeliveryError, Transport, transport_for
from idp.unit_of_work import rollback, unit_of_work

log = logging.getLogger(__name__)
BATCH_SIZE = 20


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0  # attempts that failed (the message may be retried)
    given_up: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "failed": self.failed, "given_up": self.given_up}


def send_pending(transport: Transport | None = None, *, limit: int = 500) -> SendReport:
    """Deliver due messages, at most `limit` claims in this run."""
    transport = transport or default_transport()
    report = SendReport()
    while limit > 0:
        claimed = claim_due(min(BATCH_SIZE, limit))
        if not claimed:
            break
        limit -= len(claimed)
        for message_id, claim_token in claimed:
            deliver_claimed(message_id, claim_token, transport, report)
    return report


def default_transport() -> Transport:
    config = current_app.config["IDP"]
    return transport_for(config.smtp_url, config.mail_outbox)


def claim_due(size: int) -> list[tuple[str, str]]:
    """Claim up to `size` due messages for this sender; returns (id, claim token) pairs."""
    now = clock.now()
    candidates = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.next_attempt_at).limit(size)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claim_token = random_token(16)[:32]
    with unit_of_work():
        ids = list(db.session.scalars(candidates))
        if not ids:
            return []
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), _due(now))  # re-checked: another sender may have won
            .values(status=SENDING, claim_token=claim_token, claimed_until=now + CLAIM_LEASE,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    won = db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.id.in_(ids), OutboxMessage.claim_token == claim_token)
    )
    return [(message_id, claim_token) for message_id in won]


@dataclass(frozen=True)
class Claimed:
    """What delivery needs from the row, read before the transaction closes."""

    id: str
    tenant_id: str
    to_address: str
    attempts: int
    claim_token: str


def deliver_claimed(message_id: str, claim_token: str, transport: Transport, report: SendReport) -> None:
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.claim_token != claim_token:
        rollback()
        return
    claimed = Claimed(row.id, row.tenant_id, row.to_address, row.attempts, claim_token)
    started = clock.now()
    try:
        email, link = _build(row)
        file_stem = f"{row.created_at:%Y%m%dT%H%M%S}-{row.kind}-{row.id}"
        rollback()  # no transaction stays open while we talk to the mail server
        transport.deliver(email, file_stem=file_stem, link=link)
    except DeliveryError as exc:
        rollback()
        _record_failure(claimed, transport, started, exc, report)
    else:
        _record_success(claimed, transport, started, report)


def _build(message: OutboxMessage) -> tuple[EmailMessage, str | None]:
    if message.payload_sealed is None:
        raise DeliveryError("the message body is missing", permanent=True)
    try:
        payload = Payload.unseal(message.payload_sealed, message.id)
    except SealedSecretError as exc:
        raise DeliveryError("the message body cannot be opened (was the master key changed?)",
                            permanent=True) from exc
    email = build_message(
        message_id=message.id, to_address=message.to_address, subject=message.subject,
        created_at=message.created_at, payload=payload,
        from_address=current_app.config["IDP"].mail_from_address,
    )
    return email, payload.link


def _record_success(
    message: Claimed, transport: Transport, started: datetime, report: SendReport,
) -> None:
    now = clock.now()
    with unit_of_work():
        _finish(message, status=SENT, sent_at=now, payload_sealed=None, last_error=None)
        _attempt(message, transport, started, now, "sent", None)
    report.sent += 1


def _record_failure(
    message: Claimed, transport: Transport, started: datetime, error: DeliveryError,
    report: SendReport,
) -> None:
    now = clock.now()
    final = gives_up(message.attempts, error.permanent)
    reason = str(error)[:500]
    with unit_of_work():
        if final:
            _finish(message, status=FAILED, last_error=reason)
        else:
            _finish(message, status=PENDING, last_error=reason, next_attempt_at=now + retry_delay(message.attempts))
        _attempt(message, transport, started, now, "failed", reason)
    if final:
        log.error("mail %s to %s given up after %d attempt(s): %s", message.id, message.to_address,
                  message.attempts, reason)
        report.given_up.append(message.id)
    else:
        log.warning("mail %s to %s not delivered (attempt %d), will retry: %s", message.id,
                    message.to_address, message.attempts, reason)
    report.failed += 1


def _finish(message: Claimed, **values: object) -> None:
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim_token == message.claim_token)
        .values(claim_token=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )


def _attempt(message: Claimed, transport: Transport, started: datetime, finished: datetime,
             outcome: str, error: str | None) -> None:
    db.session.add(DeliveryAttempt(
        tenant_id=message.tenant_id, message_id=message.id, transport=transport.name,
        started_at=started, finished_at=finished, outcome=outcome, error=error,
    ))


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
        # A sender that died mid-delivery: its lease ran out, the message is due again.
        and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),
    )
