"""The one throttle: counters in the database, per tenant, limit and key, read and bumped by every
worker and node alike (docs/decisions/sign-in-throttle-keys.md says what the sign-in keys are).

Two ways to count:
- failures (sign-in passwords, TOTP codes): `check_failures` before the attempt, `record_failure`
  when it fails, `record_success` clears the account's count;
- requests (mail-sending forms): `hit` counts a request, or refuses it and counts nothing, so
  someone who waits as asked gets through.

A counter is bumped by one UPDATE (`count + 1`, or 1 after a quiet period), which the database
applies atomically, so concurrent attempts on several nodes never lose a count; the first one
inserts the row, and an insert that loses a race falls back to the UPDATE. Keys are stored only
as keyed hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from idp import clock
from idp.crypto import keyring
from idp.db import db, new_id
from idp.errors import Throttled
from idp.tenancy.models import Tenant
from idp.throttling.models import ThrottleCounter
from idp.throttling.rules import (
    ACCOUNT_POLICY,
    IP_POLICY,
    MAIL_ADDRESS_POLICY,
    MAIL_IP_POLICY,
    Policy,
    ip_key,
    retry_after,
)


@dataclass(frozen=True)
class Limit:
    bucket: str
    policy: Policy


SIGN_IN_ACCOUNT = Limit("sign-in-account", ACCOUNT_POLICY)
SIGN_IN_IP = Limit("sign-in-ip", IP_POLICY)  # passwords and codes from one client share it
MAIL_PER_ADDRESS = Limit("mail-address", MAIL_ADDRESS_POLICY)
MAIL_PER_IP = Limit("mail-ip", MAIL_IP_POLICY)


class TooManyAttempts(Throttled):
    """Too many failed sign-ins or codes: the person waits, and is told how long."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        self.description = f"Too many attempts. Please wait {self.seconds} seconds and try again."


class TooManyMails(Throttled):
    """Mail was sent here recently."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        minutes = max(1, -(-self.seconds // 60))
        self.description = (f"We have sent several emails here recently. Please check your inbox and spam folder, "
                            f"or try again in {minutes} minute{'s' if minutes != 1 else ''}.")


# -- failures --------------------------------------------------------------------------------------

def check_failures(tenant: Tenant, account_key: str, ip: str) -> bool:
    """Raise TooManyAttempts if the account key or the client must wait. Else whether the account
    has failures counted, for `record_success` (nothing to clear, no statement)."""
    checks = _failure_checks(account_key, ip)
    counted = _counted(tenant, checks)
    wait = _wait(counted, clock.now())
    if wait > timedelta(0):
        raise TooManyAttempts(wait)
    return (SIGN_IN_ACCOUNT, account_key) in counted


def record_failure(tenant: Tenant, account_key: str, ip: str) -> None:
    now = clock.now()
    for limit, key in _failure_checks(account_key, ip):
        _bump(tenant, limit, key, now)


def record_success(tenant: Tenant, account_key: str, counted: bool = True) -> None:
    """Clear the account's failures; `counted=False` (from `check_failures`) when it had none."""
    if counted:
        db.session.execute(delete(ThrottleCounter).where(_counter(tenant, SIGN_IN_ACCOUNT, account_key)))


def _failure_checks(account_key: str, ip: str) -> list[tuple[Limit, str]]:
    return [(SIGN_IN_ACCOUNT, account_key), (SIGN_IN_IP, ip_key(ip))]


# -- requests --------------------------------------------------------------------------------------

def hit(tenant: Tenant, checks: list[tuple[Limit, str]]) -> None:
    """Count one request under each (limit, key), or raise TooManyMails and count nothing."""
    now = clock.now()
    wait = _wait(_counted(tenant, checks), now)
    if wait > timedelta(0):
        raise TooManyMails(wait)
    for limit, key in checks:
        _bump(tenant, limit, key, now)


def mail_checks(address: str, ip: str) -> list[tuple[Limit, str]]:
    """The limits a request that mails `address` counts against."""
    return [(MAIL_PER_ADDRESS, address), (MAIL_PER_IP, ip_key(ip))]


# -- the store -------------------------------------------------------------------------------------

def _counted(tenant: Tenant, checks: list[tuple[Limit, str]]) -> dict[tuple[Limit, str], tuple[int, datetime]]:
    """The (count, last) of each check that has a counter, read in one statement."""
    hashes = {(limit.bucket, _key_hash(tenant, limit, key)): (limit, key) for limit, key in checks}
    rows = db.session.execute(
        select(ThrottleCounter.bucket, ThrottleCounter.key_hash, ThrottleCounter.count, ThrottleCounter.last_at)
        .where(ThrottleCounter.tenant_id == tenant.id, or_(*(
            and_(ThrottleCounter.bucket == bucket, ThrottleCounter.key_hash == key_hash)
            for bucket, key_hash in hashes)))
    )
    return {hashes[(bucket, key_hash)]: (count, last_at) for bucket, key_hash, count, last_at in rows}


def _wait(counted: dict[tuple[Limit, str], tuple[int, datetime]], now: datetime) -> timedelta:
    wait = timedelta(0)
    for (limit, _), (count, last_at) in counted.items():
        wait = max(wait, retry_after(limit.policy, count, last_at, now))
    return wait


def _bump(tenant: Tenant, limit: Limit, key: str, now: datetime) -> None:
    if _increment(tenant, limit, key, now):
        return
    try:
        with db.session.begin_nested():
            db.session.execute(insert(ThrottleCounter).values(
                id=new_id(), tenant_id=tenant.id, bucket=limit.bucket, key_hash=_key_hash(tenant, limit, key),
                count=1, last_at=now,
            ))
    except IntegrityError:  # another request inserted it first: count on top of it
        _increment(tenant, limit, key, now)


def _increment(tenant: Tenant, limit: Limit, key: str, now: datetime) -> bool:
    """One atomic UPDATE: count + 1, or a fresh 1 after the policy's quiet period."""
    result = db.session.execute(
        update(ThrottleCounter).where(_counter(tenant, limit, key)).values(
            count=case((ThrottleCounter.last_at <= now - limit.policy.forget_after, 1),
                       else_=ThrottleCounter.count + 1),
            last_at=now,
        ).execution_options(synchronize_session=False)
    )
    return int(result.rowcount) > 0  # type: ignore[attr-defined]


def _counter(tenant: Tenant, limit: Limit, key: str) -> ColumnElement[bool]:
    return and_(ThrottleCounter.tenant_id == tenant.id, ThrottleCounter.bucket == limit.bucket,
                ThrottleCounter.key_hash == _key_hash(tenant, limit, key))


def _key_hash(tenant: Tenant, limit: Limit, key: str) -> str:
    return keyring().hash_token(f"throttle|{tenant.id}|{limit.bucket}|{key.strip().lower()}")
