"""A small in-process cache for rows the hot paths read on every request (credentials, number owners).

Entries live `ttl` seconds, so a change made by another process is seen within that time; this process
clears the cache whenever it changes the rows itself, so its own changes are seen at once.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MISSING = object()


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float = 1.0, maxsize: int = 4096) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | object:
        """The cached value, or MISSING."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return MISSING
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self.maxsize:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()
