"""When a session is alive: pure functions of the session's times and the tenant's settings."""

from __future__ import annotations

from datetime import datetime, timedelta

# Touching the row on every request would make every page a write; a minute of slack on a
# one-hour idle timeout is invisible to people.
TOUCH_INTERVAL = timedelta(seconds=60)


def is_alive(
    *, now: datetime, last_seen_at: datetime, persistent: bool, expires_at: datetime | None,
    ended_at: datetime | None, idle_timeout: timedelta,
) -> bool:
    if ended_at is not None:
        return False
    if expires_at is not None and now >= expires_at:
        return False
    # "Stay logged in" sessions do not idle out (docs/architecture.md §Sessions).
    return persistent or now < last_seen_at + idle_timeout


def needs_touch(*, now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= TOUCH_INTERVAL
