"""Putting a message in the outbox, inside the caller's transaction (docs/architecture.md §Email).

The unit of work commits: the message exists if and only if the change that caused it does. A commit
that queued mail wakes this process's sender thread, so mail leaves at once, not at the next poll.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from idp import clock
from idp.crypto import keyring
from idp.db import db, new_id
from idp.mail.models import PENDING, OutboxMessage
from idp.mail.render import render_mail
from idp.tenancy.models import Tenant

# Set when a transaction that queued mail commits; the sender thread waits on it between polls.
mail_queued = threading.Event()
_QUEUED_KEY = "idp.mail.queued"


@dataclass(frozen=True)
class Payload:
    """What the sender needs to build the message; sealed at rest because bodies carry links."""

    from_name: str
    text: str
    html: str
    link: str | None = None

    def seal(self, message_id: str) -> str:
        return keyring().seal(json.dumps(self.__dict__).encode(), f"mail|{message_id}")

    @classmethod
    def unseal(cls, sealed: str, message_id: str) -> Payload:
        return cls(**json.loads(keyring().unseal(sealed, f"mail|{message_id}")))


def enqueue(
    tenant: Tenant, kind: str, to_address: str, *, link: str | None = None, locale: str | None = None,
    **context: Any,
) -> OutboxMessage:
    """Render `kind` and add it to the outbox (the unit of work commits)."""
    rendered = render_mail(tenant, kind, locale, link=link, **context)
    message_id = new_id()
    payload = Payload(from_name=tenant.name, text=rendered.text, html=rendered.html, link=link)
    message = OutboxMessage(
        id=message_id,
        tenant_id=tenant.id,
        kind=kind,
        to_address=to_address,
        subject=rendered.subject[:255],
        payload_sealed=payload.seal(message_id),
        status=PENDING,
        attempts=0,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
    )
    db.session.add(message)
    db.session.info[_QUEUED_KEY] = True
    return message


@event.listens_for(Session, "after_commit")
def _wake_sender(session: Session) -> None:
    if session.info.pop(_QUEUED_KEY, False):
        mail_queued.set()


@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(_QUEUED_KEY, None)
