"""Signing in with a password: throttle, authenticate, start a session."""

from __future__ import annotations

from typing import NamedTuple

from idp import metrics
from idp.accounts.models import User
from idp.accounts.service import check_password, find_user_by_identifier
from idp.errors import PortcullisError
from idp.federation.connections import sso_required_for
from idp.oauth.logout import replace_session
from idp.sessions.models import BrowserSession
from idp.sessions.service import StartedSession, renew_proof, start_session
from idp.tenancy.models import Tenant
from idp.throttling import service as throttle
from idp.unit_of_work import keep_on_refusal


class InvalidCredentials(PortcullisError):
    """Wrong password or unknown account: callers cannot and must not tell which."""

    status = 401
    error = "invalid_credentials"
    message = "That email or password is not right. Check them and try again."


class SsoRequired(PortcullisError):
    status = 400
    error = "sso_required"
    message = "Your organization signs in with its own sign-in service."


class SignedIn(NamedTuple):
    user: User
    started: StartedSession


def sign_in_with_password(
    tenant: Tenant,
    *,
    identifier: str,
    password: str,
    persistent: bool,
    ip: str,
    pool: str = "staff",
    previous: BrowserSession | None = None,
) -> SignedIn:
    """Start a session for the person, or raise InvalidCredentials / throttle.TooManyAttempts.

    The account is looked up before the throttle is asked, for known and unknown identifiers
    alike (one query either way), so the count follows the account however it is named.
    """
    account = find_user_by_identifier(tenant, pool, identifier)
    sso = sso_required_for(tenant, account.email, pool) if account is not None and account.email else None
    if sso is not None:  # e.g. typed by username: the password is never checked
        raise SsoRequired(f"People of your organization sign in with {sso.name}: use its button or your email.")
    key = account_key(identifier, account)
    try:
        counted = throttle.check_failures(tenant, key, ip)
    except throttle.TooManyAttempts:
        metrics.sign_in("throttled")
        raise
    user = check_password(account, password)
    if user is None:
        metrics.sign_in("bad_password")
        throttle.record_failure(tenant, key, ip)
        keep_on_refusal()  # the failure must count although the request is refused
        raise InvalidCredentials()
    throttle.record_success(tenant, key, counted)
    metrics.sign_in("success")
    if previous is not None and previous.user_id == user.id:
        started = renew_proof(tenant, previous, persistent=persistent)  # re-authentication (prompt=login, max_age)
    else:
        if previous is not None:
            replace_session(tenant, previous)
        started = start_session(tenant, user, persistent=persistent)
    return SignedIn(user, started)


def account_key(identifier: str, user: User | None) -> str:
    """What the per-account counter counts. An identifier that names an account counts against
    the account, so its email and its username share one count; one that names nobody counts
    against the text typed, so failing against nobody is throttled, and looks, the same."""
    if user is not None:
        return f"user|{user.id}"
    return f"typed|{identifier.strip().lower()}"
