"""A bounded in-process memo for what the face derives on every request and never changes
(a record's decoded bytes, a context bound to a client): the oldest entry is dropped first,
in O(1), so a flood of sessions cannot grow the process nor slow each request down.

A read is one ``OrderedDict`` lookup and takes no lock (atomic under the GIL); a write takes
the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Bounded"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """At most ``max_entries`` values; when full, a new one replaces the oldest."""

    __slots__ = ("_entries", "_lock", "_max", "get")

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a memo keeps at least one entry")
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        #: The value remembered under a key, or None (the dict's own ``get``: no extra call).
        self.get = self._entries.get

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key`` (a new key when full drops the oldest one)."""
        with self._lock:
            entries = self._entries
            if key not in entries and len(entries) >= self._max:
                entries.popitem(last=False)
            entries[key] = value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
