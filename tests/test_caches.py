"""The per-process cache: values expire, the least recently used go first past the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp.caches import ExpiringCache

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def test_values_expire() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(5, 10)
    cache.put("a", 1, NOW)
    assert cache.get("a", NOW + timedelta(seconds=4.9)) == 1
    assert cache.get("a", NOW + timedelta(seconds=5)) is None
    assert len(cache) == 0, "an expired entry is dropped when seen"


def test_the_least_recently_used_go_first() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(60, 3)
    for key in range(3):
        cache.put(key, key, NOW)
    assert cache.get(0, NOW) == 0  # 0 is now the most recently used
    cache.put(3, 3, NOW)
    assert cache.get(1, NOW) is None and [cache.get(k, NOW) for k in (0, 2, 3)] == [0, 2, 3]
    assert len(cache) == 3
    cache.forget(2)
    cache.forget(99)
    assert cache.get(2, NOW) is None and len(cache) == 2


def test_a_value_read_before_a_forget_is_not_kept() -> None:
    """The race a long lifetime would make costly: a reader fetched the old row, a notice forgot
    the key, then the reader stores what it fetched. The put is dropped."""
    cache: ExpiringCache[str, str] = ExpiringCache(300, 10)
    seen = cache.generation  # the reader starts its SELECT
    cache.forget("acme")  # a change elsewhere commits; its notice arrives
    cache.put("acme", "old row", NOW, seen=seen)
    assert cache.get("acme", NOW) is None
    seen = cache.generation
    cache.put("acme", "new row", NOW, seen=seen)
    assert cache.get("acme", NOW) == "new row"
    cache.clear()
    cache.put("acme", "stale", NOW, seen=seen)
    assert cache.get("acme", NOW) is None, "a reconnect's forget-everything counts too"
