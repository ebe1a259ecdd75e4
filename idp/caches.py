"""A small per-process cache: each value kept for a few seconds, at most `max_entries` of them
(the least recently used dropped first), so memory stays bounded however many tenants a worker
serves. Safe to use from the request thread and the invalidation listener at once.

A value read from the database must not be kept if the entry was forgotten meanwhile (a change
committed elsewhere, whose notice arrived between the read and the `put`): read `generation`
before reading the database and pass it to `put` as `seen`; the put is dropped when anything was
forgotten since."""

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
        self.generation = 0  # how many forgets so far

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

    def put(self, key: K, value: V, now: datetime, seconds: float | None = None, seen: int | None = None) -> None:
        """Keep `value` for the cache's lifetime, or for `seconds` when given; not at all when
        something was forgotten after `generation` read `seen`."""
        lifetime = self.lifetime if seconds is None else timedelta(seconds=seconds)
        with self._lock:
            if seen is not None and seen != self.generation:
                return
            self._entries[key] = (value, now + lifetime)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
