"""Starting, finding, renewing and ending browser sessions; every look-up takes the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from idp import clock
from idp.accounts.models import User
from idp.crypto import keyring, random_token
from idp.db import db
from idp.sessions.models import BrowserSession
from idp.sessions.rules import is_alive, needs_touch
from idp.tenancy.models import Tenant

MAX_COOKIE_LENGTH = 128


@dataclass(frozen=True)
class StartedSession:
    session: BrowserSession
    cookie_value: str
    max_age: int | None  # seconds for a persistent cookie, None for a browser-session cookie


def start_session(tenant: Tenant, user: User, *, persistent: bool, amr: str = "pwd",
                  idp: str | None = None) -> StartedSession:
    now = clock.now()
    session = BrowserSession(tenant_id=tenant.id, user_id=user.id, created_at=now, token_hash="", auth_time=now,
                             last_seen_at=now)
    db.session.add(session)
    return renew_proof(tenant, session, persistent=persistent, amr=amr, idp=idp)


def renew_proof(tenant: Tenant, session: BrowserSession, *, persistent: bool, amr: str = "pwd",
                idp: str | None = None) -> StartedSession:
    """The person has just proved who they are (again) in this session: a new cookie (the old one
    stops working), a new auth_time, the second factor and the notices still to come. The
    session's id, and so the `sid` relying parties know, stays."""
    now = clock.now()
    cookie_value = random_token(32)
    max_age = tenant.persistent_session_days * 86400 if persistent else None
    session.token_hash = keyring().hash_token(cookie_value)
    session.persistent = persistent
    session.auth_time = now
    session.last_seen_at = now
    session.expires_at = now + timedelta(seconds=max_age) if max_age else None
    session.amr = amr  # "pwd", or "fed" through a connection (RFC 8176 has no federation value)
    session.idp = idp
    session.notices_seen_at = None
    db.session.flush()
    return StartedSession(session, cookie_value, max_age)


def resume_session(tenant: Tenant, cookie_value: str | None) -> BrowserSession | None:
    """The live session named by the cookie at this tenant, renewed; None if there is none."""
    if not cookie_value or len(cookie_value) > MAX_COOKIE_LENGTH:
        return None
    session = db.session.execute(
        select(BrowserSession).where(
            BrowserSession.tenant_id == tenant.id,
            BrowserSession.token_hash == keyring().hash_token(cookie_value),
        )
    ).scalar_one_or_none()
    if session is None:
        return None
    now = clock.now()
    alive = is_alive(
        now=now,
        last_seen_at=session.last_seen_at,
        persistent=session.persistent,
        expires_at=session.expires_at,
        ended_at=session.ended_at,
        idle_timeout=timedelta(seconds=tenant.idle_timeout_seconds),
    )
    if not alive:
        return None
    if needs_touch(now=now, last_seen_at=session.last_seen_at):
        session.last_seen_at = now  # committed with the request (idp.unit_of_work)
    return session


def end_session(session: BrowserSession) -> None:
    session.ended_at = clock.now()


def end_all_sessions(tenant: Tenant, user: User) -> int:
    """End every session of `user` (password changed, account disabled)."""
    result = db.session.execute(
        update(BrowserSession)
        .where(
            BrowserSession.tenant_id == tenant.id,
            BrowserSession.user_id == user.id,
            BrowserSession.ended_at.is_(None),
        )
        .values(ended_at=clock.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
