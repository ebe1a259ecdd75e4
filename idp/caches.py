"""A small per-process cache: each value kept for a few seconds, at most `max_entries` of them
(the least recently used dropped first), so memory stays bounded however many tenants a worker
serves. Safe to use from the request thread and the invalidation listener at once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, seconds: float, max_entries: int) -> None:
        self.lifetime = timedelta(seconds=seconds)
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[V, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now: datetime) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now >= entry[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, now: datetime, seconds: float | None = None) -> None:
        """Keep `value` for the cache's lifetime, or for `seconds` when given."""
        lifetime = self.lifetime if seconds is None else timedelta(seconds=seconds)
        with self._lock:
            self._entries[key] = (value, now + lifetime)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
