"""When a session is alive: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.sessions.rules import TOUCH_INTERVAL, is_alive, needs_touch

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def alive(after: timedelta, *, persistent: bool = False, expires_in: timedelta | None = None,
          ended_after: timedelta | None = None, idle: timedelta = HOUR) -> bool:
    return is_alive(
        now=T0 + after,
        last_seen_at=T0,
        persistent=persistent,
        expires_at=T0 + expires_in if expires_in is not None else None,
        ended_at=T0 + ended_after if ended_after is not None else None,
        idle_timeout=idle,
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"after": timedelta(0)}, True),
        ({"after": timedelta(minutes=59)}, True),
        ({"after": HOUR - timedelta(seconds=1)}, True),
        ({"after": HOUR}, False),  # the idle timeout is a hard edge
        ({"after": timedelta(minutes=61)}, False),
        ({"after": timedelta(days=30)}, False),
        # a tenant's own idle timeout
        ({"after": timedelta(minutes=9), "idle": timedelta(minutes=10)}, True),
        ({"after": timedelta(minutes=11), "idle": timedelta(minutes=10)}, False),
        ({"after": timedelta(hours=5), "idle": timedelta(hours=8)}, True),
        # "Stay logged in": no idle timeout, but the tenant's maximum
        ({"after": timedelta(hours=2), "persistent": True, "expires_in": timedelta(days=90)}, True),
        ({"after": timedelta(days=89), "persistent": True, "expires_in": timedelta(days=90)}, True),
        ({"after": timedelta(days=90), "persistent": True, "expires_in": timedelta(days=90)}, False),
        ({"after": timedelta(days=91), "persistent": True, "expires_in": timedelta(days=90)}, False),
        ({"after": timedelta(days=400), "persistent": True}, True),
        # an expiry also ends a non-persistent session early
        ({"after": timedelta(minutes=10), "expires_in": timedelta(minutes=5)}, False),
        # logged out: over, whatever else holds
        ({"after": timedelta(seconds=1), "ended_after": timedelta(0)}, False),
        ({"after": timedelta(minutes=1), "persistent": True, "ended_after": timedelta(0)}, False),
        ({"after": timedelta(0), "ended_after": timedelta(hours=1)}, False),
    ],
)
def test_is_alive(kwargs: dict[str, object], expected: bool) -> None:
    assert alive(**kwargs) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(0), False),
        (timedelta(seconds=59), False),
        (TOUCH_INTERVAL, True),
        (timedelta(minutes=59), True),
    ],
)
def test_needs_touch(elapsed: timedelta, expected: bool) -> None:
    assert needs_touch(now=T0 + elapsed, last_seen_at=T0) is expected


def test_touch_interval_is_small_against_the_idle_timeout() -> None:
    """Skipping writes within the interval may cost at most a minute of a one-hour timeout."""
    assert timedelta(0) < TOUCH_INTERVAL <= timedelta(minutes=1)
