"""Counting requests that send mail, per address and per IP, so nobody can mail-bomb an address.

The waiting rules are the sign-in throttle's (idp.login.throttle_rules): a few free requests,
then growing waits, forgiven after a quiet hour. Refused requests are not counted, so someone
who waits as asked gets through. Keys are stored only as keyed hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.accounts.link_models import RequestCounter
from idp.crypto import keyring
from idp.db import db
from idp.errors import Throttled
from idp.login.throttle_rules import Policy, effective_failures, retry_after
from idp.tenancy.models import Tenant


class TooManyMails(Throttled):
    """Mail was sent here recently: nobody can mail-bomb an address through us."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        minutes = max(1, -(-self.seconds // 60))
        self.description = (f"We have sent several emails here recently. Please check your inbox and spam folder, "
                            f"or try again in {minutes} minute{'s' if minutes != 1 else ''}.")


@dataclass(frozen=True)
class Limit:
    bucket: str
    policy: Policy


# Three mails to one address come at once; then 5, 10, 20 … minutes apart.
MAIL_PER_ADDRESS = Limit("mail-address", Policy(3, timedelta(minutes=5), timedelta(hours=1), timedelta(hours=1)))
# An office shares one address; a script sweeping many addresses does not get far.
MAIL_PER_IP = Limit("mail-ip", Policy(20, timedelta(minutes=1), timedelta(hours=1), timedelta(hours=1)))


def hit(tenant: Tenant, checks: list[tuple[Limit, str]]) -> None:
    """Count one request under each (limit, key), or raise Throttled and count nothing."""
    now = clock.now()
    wait = timedelta(0)
    rows = [(limit, key, _row(tenant, limit.bucket, key)) for limit, key in checks]
    for limit, _key, row in rows:
        if row is not None:
            wait = max(wait, retry_after(limit.policy, row.count, row.last_at, now))
    if wait > timedelta(0):
        raise TooManyMails(wait)
    for limit, key, row in rows:
        _bump(tenant, limit, key, row, now)


def _bump(tenant: Tenant, limit: Limit, key: str, row: RequestCounter | None, now: datetime) -> None:
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(RequestCounter(
                    tenant_id=tenant.id, bucket=limit.bucket, key_hash=_key_hash(tenant, limit.bucket, key),
                    count=1, last_at=now,
                ))
            return
        except IntegrityError:  # another request inserted it first
            row = _row(tenant, limit.bucket, key)
            if row is None:
                return
    row.count = effective_failures(limit.policy, row.count, row.last_at, now) + 1
    row.last_at = now


def _row(tenant: Tenant, bucket: str, key: str) -> RequestCounter | None:
    return db.session.execute(
        select(RequestCounter).where(
            RequestCounter.tenant_id == tenant.id,
            RequestCounter.bucket == bucket,
            RequestCounter.key_hash == _key_hash(tenant, bucket, key),
        )
    ).scalar_one_or_none()


def _key_hash(tenant: Tenant, bucket: str, key: str) -> str:
    return keyring().hash_token(f"ratelimit|{tenant.id}|{bucket}|{key.strip().lower()}")
