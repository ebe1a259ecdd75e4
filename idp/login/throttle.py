"""Recording failed sign-ins and refusing attempts that come too fast."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from idp import clock, errors
from idp.accounts.models import User
from idp.crypto import keyring
from idp.db import db
from idp.login.models import SignInFailures
from idp.login.throttle_rules import (
    ACCOUNT_POLICY,
    IP_POLICY,
    Policy,
    effective_failures,
    ip_key,
    retry_after,
)
from idp.tenancy.models import Tenant

POLICIES = {"account": ACCOUNT_POLICY, "ip": IP_POLICY}


class Throttled(errors.Throttled):
    """Too many failed sign-ins or codes: the person waits, and is told how long."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        self.description = f"Too many attempts. Please wait {self.seconds} seconds and try again."


def account_key(identifier: str, user: User | None) -> str:
    """What the per-account counter counts. An identifier that names an account counts against
    the account, so its email and its username share one count; one that names nobody counts
    against the text typed, so failing against nobody is throttled, and looks, the same."""
    if user is not None:
        return f"user|{user.id}"
    return f"typed|{identifier.strip().lower()}"


def check(tenant: Tenant, identifier: str, ip: str) -> None:
    """Raise Throttled if either the account key or the IP must wait."""
    now = clock.now()
    wait = timedelta(0)
    for kind, key in (("account", identifier), ("ip", ip_key(ip))):
        row = _row(tenant, kind, key)
        if row is not None:
            wait = max(wait, retry_after(POLICIES[kind], row.failures, row.last_failure_at, now))
    if wait > timedelta(0):
        raise Throttled(wait)


def record_failure(tenant: Tenant, identifier: str, ip: str) -> None:
    now = clock.now()
    for kind, key in (("account", identifier), ("ip", ip_key(ip))):
        _bump(tenant, kind, key, POLICIES[kind], now)


def record_success(tenant: Tenant, identifier: str) -> None:
    db.session.execute(
        delete(SignInFailures).where(
            SignInFailures.tenant_id == tenant.id,
            SignInFailures.kind == "account",
            SignInFailures.key_hash == _key_hash(tenant, "account", identifier),
        )
    )


def _bump(tenant: Tenant, kind: str, key: str, policy: Policy, now: datetime) -> None:
    row = _row(tenant, kind, key)
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    SignInFailures(
                        tenant_id=tenant.id, kind=kind, key_hash=_key_hash(tenant, kind, key),
                        failures=1, last_failure_at=now,
                    )
                )
            return
        except IntegrityError:  # another request inserted it first
            row = _row(tenant, kind, key)
            if row is None:
                return
    row.failures = effective_failures(policy, row.failures, row.last_failure_at, now) + 1
    row.last_failure_at = now


def _row(tenant: Tenant, kind: str, key: str) -> SignInFailures | None:
    return db.session.execute(
        select(SignInFailures).where(
            SignInFailures.tenant_id == tenant.id,
            SignInFailures.kind == kind,
            SignInFailures.key_hash == _key_hash(tenant, kind, key),
        )
    ).scalar_one_or_none()


def _key_hash(tenant: Tenant, kind: str, key: str) -> str:
    return keyring().hash_token(f"throttle|{tenant.id}|{kind}|{key.strip().lower()}")
