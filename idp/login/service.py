"""Signing in with a password: throttle, authenticate, start a session."""

from __future__ import annotations

from idp.accounts.service import authenticate
from idp.db import db
from idp.login import throttle
from idp.sessions.models import BrowserSession
from idp.sessions.service import StartedSession, end_session, start_session
from idp.tenancy.models import Tenant


class InvalidCredentials(Exception):
    """Wrong password or unknown account: callers cannot and must not tell which."""


def sign_in_with_password(
    tenant: Tenant,
    *,
    identifier: str,
    password: str,
    persistent: bool,
    ip: str,
    pool: str = "staff",
    previous: BrowserSession | None = None,
) -> StartedSession:
    """Start a session for the person, or raise InvalidCredentials / throttle.Throttled."""
    throttle.check(tenant, identifier, ip)
    user = authenticate(tenant, pool, identifier, password)
    if user is None:
        throttle.record_failure(tenant, identifier, ip)
        db.session.commit()
        raise InvalidCredentials()
    throttle.record_success(tenant, identifier)
    if previous is not None:
        end_session(previous)  # a new sign-in in this browser replaces the old session
    started = start_session(tenant, user, persistent=persistent)
    db.session.commit()
    return started
