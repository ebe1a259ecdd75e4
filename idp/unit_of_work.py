"""One unit of work per request, command or background job, committed in one place.

Services add, change and flush; they never commit. What a request did is committed once, after
its response is built and before it is sent (`finish`), the way Warehouse's transaction tween
does it: a success commits, a refusal or an error rolls back, so a request that fails half-way
leaves nothing half-done. Outbox mail and audit events are rows in the same transaction as the
change that caused them, so they stand or fall with it.

A refusal whose point is a change keeps it: a failed sign-in is counted, a replayed code or
refresh token revokes its grant (RFC 9700 §4.14), and the refusal must not undo that. The
service that makes such a change says so with `keep_on_refusal()`. A server error (5xx) never
commits.

The CLI and the background senders use `unit_of_work()`: commit when the block ends normally,
roll back when it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa
from sqlalchemy.orm import Session

from idp.db import db
from idp.errors import DatabaseUnavailable, PortcullisError

log = logging.getLogger(__name__)

KEEP_ON_REFUSAL = "idp.keep_on_refusal"
_BEGUN = "idp.began_on_a_connection"


@event.listens_for(Session, "after_begin")
def _began(session: Session, transaction: Any, connection: Any) -> None:
    session.info[_BEGUN] = True


def keep_on_refusal() -> None:
    """What this unit of work has done so far must be committed even if it ends in a refusal (4xx)."""
    db.session.info[KEEP_ON_REFUSAL] = True


def finish(status: int) -> None:
    """End this request's unit of work by its response status: commit a success, and a refusal
    that must keep its changes; roll back everything else. Raises DatabaseUnavailable if the
    database cannot take the commit, so the caller answers 503 instead of a success that was lost."""
    session = db.session()
    keep = session.info.pop(KEEP_ON_REFUSAL, False)
    if not session.info.pop(_BEGUN, False) and not (session.new or session.dirty or session.deleted):
        return  # no statement ran and nothing waits to be flushed: nothing to commit or roll back
    if status < 400 or (keep and status < 500):
        _commit()
    else:
        rollback()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did if it ends normally; roll back if it raises. A PortcullisError
    after `keep_on_refusal()` still commits, then propagates."""
    try:
        yield
    except PortcullisError:
        if db.session.info.pop(KEEP_ON_REFUSAL, False):
            _commit()
        else:
            rollback()
        raise
    except BaseException:
        db.session.info.pop(KEEP_ON_REFUSAL, None)
        rollback()
        raise
    _commit()


def rollback() -> None:
    """Roll back; on a connection the database already dropped there is nothing to roll back."""
    try:
        db.session.rollback()
    except sa.SQLAlchemyError as error:
        log.warning("rollback failed, the connection is discarded: %s", type(error).__name__)


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException as error:
        rollback()
        outage = as_outage(error)
        if outage is not None:
            raise outage from error
        raise


def as_outage(error: BaseException) -> DatabaseUnavailable | None:
    """A DatabaseUnavailable for an error that means the database cannot be reached right now
    (down, restarting, refusing connections, a connection cut mid-request, the pool exhausted),
    else None. A broken statement or a constraint is not an outage."""
    if isinstance(error, DatabaseUnavailable):
        return error
    if isinstance(error, sa.DBAPIError) and (
        error.connection_invalidated or isinstance(error, sa.OperationalError | sa.InterfaceError)
    ) and not _sqlite_mistake(error):
        return DatabaseUnavailable()
    if isinstance(error, sa.DisconnectionError | sa.TimeoutError):
        return DatabaseUnavailable()
    if isinstance(error, sa.PendingRollbackError) and isinstance(error.__context__, sa.DBAPIError):
        return as_outage(error.__context__)
    return None


def _sqlite_mistake(error: sa.DBAPIError) -> bool:
    """SQLite reports a missing table or column as an OperationalError too; only a locked, busy
    or unreadable database file is an outage there."""
    if type(error.orig).__module__ != "sqlite3":
        return False
    text = str(error.orig).lower()
    return not any(word in text for word in ("locked", "busy", "unable to open", "disk i/o"))
