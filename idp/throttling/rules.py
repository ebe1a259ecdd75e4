"""How long to wait after repeated attempts: growing delays, never a permanent lock-out. Pure.

A permanent lock-out would let anyone who knows a coach's email lock the coach out. Instead,
after a few free attempts each further one doubles the wait, up to a cap, and a quiet period
forgives the count. Per-IP limits are looser (offices share an address) but stop one machine
from sweeping many accounts. The mail limits use the same rules: a few mails at once, then
growing waits, so nobody can mail-bomb an address through us.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Policy:
    free_attempts: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta


ACCOUNT_POLICY = Policy(5, timedelta(seconds=2), timedelta(minutes=15), timedelta(hours=1))
IP_POLICY = Policy(30, timedelta(seconds=1), timedelta(minutes=15), timedelta(hours=1))
# Three mails to one address come at once; then 5, 10, 20 … minutes apart.
MAIL_ADDRESS_POLICY = Policy(3, timedelta(minutes=5), timedelta(hours=1), timedelta(hours=1))
# An office shares one address; a script sweeping many addresses does not get far.
MAIL_IP_POLICY = Policy(20, timedelta(minutes=1), timedelta(hours=1), timedelta(hours=1))


def effective_failures(policy: Policy, failures: int, last_failure_at: datetime, now: datetime) -> int:
    return 0 if now - last_failure_at >= policy.forget_after else failures


def delay_after(policy: Policy, failures: int) -> timedelta:
    """The wait imposed after `failures` consecutive failures."""
    if failures < policy.free_attempts:
        return timedelta(0)
    doublings = min(failures - policy.free_attempts, 20)
    return min(policy.first_delay * (2**doublings), policy.max_delay)


def retry_after(policy: Policy, failures: int, last_failure_at: datetime, now: datetime) -> timedelta:
    """How long until another attempt is allowed (zero: allowed now)."""
    failures = effective_failures(policy, failures, last_failure_at, now)
    wait = last_failure_at + delay_after(policy, failures) - now
    return max(wait, timedelta(0))


def ip_key(ip: str) -> str:
    """The client an address stands for. IPv6 clients get a whole /64 each (RFC 6177), so they
    cannot dodge a limit by changing address within it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
