"""Recording audit events (the unit of work commits, so an event is stored with the change it records)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

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
