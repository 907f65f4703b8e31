"""A bounded in-process memo whose entries expire: what one process remembers between requests.

The session layer keeps a few of these, each keyed by hashes or handles and each bounded,
so a flood of requests cannot grow the process: :class:`Memo` for what expires (grace
records of rotated refresh tokens, spent refresh tokens, refresh cool-downs) and
:class:`Cache` for what is derived and never goes stale (store keys, opened records), read
on every request. Both are locked the same way: a read is one dict lookup and takes no
lock (a dict read is atomic), a write takes the lock.

Both keep write order in an :class:`~collections.OrderedDict`, whose oldest entry is at
the head of a linked list: evicting it is O(1) however much the memo has churned. (A plain
dict's first key is found by scanning past the slots of deleted entries, which grow with
churn until the next resize; at 10,000 entries that cost ~3.8 µs per eviction.)
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from .._clock import Clock

__all__ = ["Cache", "Memo"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most ``max_entries`` values, each kept ``ttl`` seconds after it was written.

    Entries share one TTL, so write order is expiry order: a write drops the expired
    entries from the front, then the oldest one if the memo is still full, never scanning.
    """

    __slots__ = ("_clock", "_entries", "_lock", "_max", "_ttl")

    def __init__(self, *, ttl: float = math.inf, clock: Clock, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        """How many entries are kept (some may have expired since their last write)."""
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value written under ``key``, unless it expired or was evicted."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key`` for the memo's TTL (a rewrite starts it anew)."""
        with self._lock:
            entries = self._entries
            now = self._clock()
            entries.pop(key, None)
            while entries:
                first = next(iter(entries))
                if entries[first][0] > now:
                    break
                del entries[first]
            if len(entries) >= self._max:
                entries.popitem(last=False)
            entries[key] = (now + self._ttl, value)


class Cache(OrderedDict[K, V]):
    """At most ``max_entries`` values that never expire (derived ones: recomputed if evicted).

    A read is the inherited ``dict.get`` (an ordered dict does not override it), as fast as
    a plain dict's, for the per-request path; :meth:`put` takes the lock and evicts the
    oldest entry when full, in O(1).
    """

    __slots__ = ("_lock", "_max")

    def __init__(self, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        super().__init__()
        self._max = max_entries
        self._lock = threading.Lock()

    @property
    def max_entries(self) -> int:
        """How many entries the cache keeps at most."""
        return self._max

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key``."""
        with self._lock:
            if len(self) >= self._max and key not in self:
                self.popitem(last=False)
            self[key] = value
