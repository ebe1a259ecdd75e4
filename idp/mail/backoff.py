"""When to try a failed delivery again: exponential backoff, capped. Pure functions."""

from __future__ import annotations

from datetime import timedelta

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# 30 s, 1, 2, 4 … minutes, then hourly: about a day of trying before the message is given up.
MAX_ATTEMPTS = 30
# A claim lasts this long; a sender that died holding it loses the message to the next sender.
CLAIM_LEASE = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1 for the first)."""
    doublings = min(max(attempts - 1, 0), 20)
    return min(FIRST_RETRY * (2**doublings), MAX_RETRY)


def gives_up(attempts: int, permanent: bool) -> bool:
    """A permanent refusal (SMTP 5xx) is final; a transient one is retried until MAX_ATTEMPTS."""
    return permanent or attempts >= MAX_ATTEMPTS
