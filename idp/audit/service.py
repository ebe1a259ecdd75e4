"""Recording audit events (the unit of work commits, so an event is stored with the change it records)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select

from idp import clock
from idp.audit.models import AuditEvent
from idp.db import db
from idp.tenancy.models import Tenant

# The decisions recorded (issue #5): each name says what happened, in the past tense.
TERMS_ACCEPTED = "policy.accepted"
TERMS_DECLINED = "policy.declined"
NEWSLETTER_SUBSCRIBED = "newsletter.subscribed"
FACTOR_ENROLLED = "second_factor.enrolled"
FACTOR_REMOVED = "second_factor.removed"
RECOVERY_CODE_USED = "second_factor.recovery_code_used"

EVENT_NAME = re.compile(r"^[a-z_]{1,30}(?:\.[a-z_]{0,33})?$")  # "policy.accepted", or a family "federation."


def record(tenant: Tenant, event: str, *, user_id: str | None, ip: str | None = None, actor: str = "user",
           **detail: Any) -> AuditEvent:
    row = AuditEvent(
        tenant_id=tenant.id, user_id=user_id, event=event, actor=actor[:100],
        detail_json=json.dumps(detail, sort_keys=True, default=str), ip=(ip or None) and ip[:45],
        created_at=clock.now(),
    )
    db.session.add(row)
    return row


def events_of(tenant: Tenant, user_id: str) -> list[AuditEvent]:
    return list(db.session.execute(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant.id, AuditEvent.user_id == user_id)
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).scalars())


class BadCursor(ValueError):
    """A query parameter of the audit trail that cannot be read."""


@dataclass(frozen=True)
class AuditQuery:
    event: str | None
    user_id: str | None
    since: datetime | None
    after: tuple[datetime, str] | None  # the last event of the page before (keyset)
    limit: int

    @classmethod
    def parse(cls, *, event: str | None, user_id: str | None, since: str | None, cursor: str | None,
              limit: int) -> AuditQuery:
        if event is not None and not EVENT_NAME.match(event):
            raise BadCursor("'type' must be an event name such as policy.accepted, or a family such as federation.")
        return cls(event=event, user_id=user_id, since=_time(since, "since") if since is not None else None,
                   after=_cursor(cursor) if cursor is not None else None, limit=limit)


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    next_cursor: str | None


def page_of_events(tenant: Tenant, query: AuditQuery) -> Page:
    """Newest first; `query.limit` events and the cursor of the next page (None on the last)."""
    statement = select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)
    if query.event is not None and query.event.endswith("."):
        statement = statement.where(AuditEvent.event.startswith(query.event, autoescape=True))
    elif query.event is not None:
        statement = statement.where(AuditEvent.event == query.event)
    if query.user_id is not None:
        statement = statement.where(AuditEvent.user_id == query.user_id)
    if query.since is not None:
        statement = statement.where(AuditEvent.created_at >= query.since)
    if query.after is not None:
        at, last_id = query.after
        statement = statement.where(or_(AuditEvent.created_at < at,
                                        and_(AuditEvent.created_at == at, AuditEvent.id < last_id)))
    rows = list(db.session.execute(
        statement.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(query.limit + 1)).scalars())
    events, more = rows[:query.limit], len(rows) > query.limit
    last = events[-1] if events else None
    cursor = _encode_cursor(last.created_at, last.id) if more and last is not None else None
    return Page(events, cursor)


def prune(before: datetime) -> int:
    """Delete every tenant's events older than `before` (the retention setting); how many went."""
    deleted = db.session.execute(delete(AuditEvent).where(AuditEvent.created_at < before))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def _encode_cursor(at: datetime, event_id: str) -> str:
    raw = json.dumps([at.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _cursor(value: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at_text, event_id = json.loads(raw)
        if not isinstance(event_id, str) or len(event_id) > 32:
            raise ValueError("bad id")
        return _time(str(at_text), "cursor"), event_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor("'cursor' is not one this API gave.") from exc


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadCursor(f"'{name}' must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z.") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
