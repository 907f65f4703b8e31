"""The in-memory store: the default for a single process, bounded in size.

It answers every read in this process (:class:`~.base.LocalReads`), so the session layer
serves a signed-in request from it without awaiting anything.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable

from .._clock import Clock, system_clock

__all__ = ["MemoryStore"]

_Entry = tuple[float, bytes]  # (expires at, value)
# A late entry's place: (expires at, write number, key, the entry). Write numbers are unique,
# so ties go to the earlier write and the rest is never compared.
_Place = tuple[float, int, str, _Entry]

# Stand-in for a namespace that does not exist yet; never written to.
_NOWHERE: dict[str, _Entry] = {}


class _Queue:
    """One namespace's entries in expiry order (ties: the earlier write first).

    An entry that expires no earlier than every entry written before it joins ``order``, a
    queue in write order and so in expiry order too: O(1) in and out. That is every entry of
    a namespace whose entries share a TTL (pending logins, grace records). An entry that
    expires sooner than one already there (a session near its absolute timeout) waits in
    ``late``, a heap: O(log m) for those m entries alone.
    """

    __slots__ = ("horizon", "late", "order")

    def __init__(self) -> None:
        self.order: OrderedDict[str, int] = OrderedDict()  # key: write number
        self.late: list[_Place] = []  # may hold stale places (of rewritten or removed keys)
        self.horizon = -math.inf  # the latest expiry in ``order`` so far

    def push(self, key: str, entry: _Entry, write: int) -> None:
        if entry[0] >= self.horizon:
            self.horizon = entry[0]
            self.order[key] = write
        else:
            heapq.heappush(self.late, (entry[0], write, key, entry))

    def discard(self, key: str) -> None:
        """Forget ``key``, whose entry was removed or replaced (a late place goes stale)."""
        self.order.pop(key, None)

    def pop_first(self, space: dict[str, _Entry], expired_by: float = math.inf) -> str | None:
        """Remove the entry that expires first, if it expires by ``expired_by``: its key."""
        late, order = self.late, self.order
        while late and space.get(late[0][2]) is not late[0][3]:
            heapq.heappop(late)  # stale: each place is dropped once
        if order:
            key = next(iter(order))
            expires = space[key][0]
            if late and late[0][:2] < (expires, order[key]):
                expires, _, key, _ = late[0]
        elif late:
            expires, _, key, _ = late[0]
        else:
            return None
        if expires > expired_by:
            return None
        if order.pop(key, None) is None:
            heapq.heappop(late)
        del space[key]
        return key

    def compact(self, space: dict[str, _Entry]) -> None:
        """Drop stale late places once they outnumber the live ones (linear, rarely)."""
        if len(self.late) > 2 * (len(space) - len(self.order)) + 64:
            self.late = [place for place in self.late if space.get(place[2]) is place[3]]
            heapq.heapify(self.late)


class MemoryStore:
    """A process-local store with TTLs and a size bound per namespace.

    Keys are grouped by namespace (the text before the last ``:``) and each namespace keeps at
    most ``max_entries``: when full, the entry that expires soonest goes, so expired entries
    go first and, among entries of one TTL (pending logins), the least recently written. So
    a flood of login starts can evict only other pending logins, never signed-in sessions.
    Safe from threads and from event loops (no operation blocks for long).

    A write first frees its namespace's expired entries, then evicts one entry if the
    namespace is full, never scanning: each namespace keeps its entries in expiry order, a
    queue where they share a TTL, so a write costs the same whether the namespace is empty
    or full. Expired entries are never returned.

    Sessions live only as long as the process: use a shared store (Redis) to run several.
    """

    def __init__(self, *, max_entries: int = 100_000, clock: Clock = system_clock) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._spaces: dict[str, dict[str, _Entry]] = {}
        # Every entry of every namespace by its key: a read is one lookup.
        self._entries: dict[str, _Entry] = {}
        self._queues: dict[str, _Queue] = {}
        self._writes = itertools.count()

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self)}, max_entries={self._max})"

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def clock(self) -> Clock:
        """The clock the entries' deadlines are on (:class:`~.base.LocalEntries`)."""
        return self._clock

    def local_entries(self) -> Callable[[str], _Entry | None] | None:
        """:meth:`~.base.LocalEntries.local_entries`: the entries dict's own ``get`` (each
        write puts a new tuple), so a check costs no Python call; None when ``read_local``
        is not this class's own (a subclass's, or one set on the instance): what it reads is
        then its own to say."""
        if getattr(self.read_local, "__func__", None) is not MemoryStore.read_local:
            return None
        return self._entries.get

    def _remove(self, key: str) -> None:
        name = key.rpartition(":")[0]
        if self._spaces.get(name, _NOWHERE).pop(key, None) is not None:
            del self._entries[key]
            self._queues[name].discard(key)

    def _live(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._remove(key)
            return None
        return entry[1]

    def _put(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        name = key.rpartition(":")[0]
        space = self._spaces.setdefault(name, {})
        queue = self._queues.setdefault(name, _Queue())
        entries, now = self._entries, self._clock()
        while (expired := queue.pop_first(space, expired_by=now)) is not None:
            del entries[expired]
        if space.pop(key, None) is not None:
            queue.discard(key)
        while len(space) >= self._max:
            evicted = queue.pop_first(space)
            if evicted is None:  # never: a full namespace has a first entry
                break
            del entries[evicted]
        entry = space[key] = entries[key] = (now + ttl, value)
        queue.push(key, entry, next(self._writes))
        queue.compact(space)

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        # A dict read is atomic: the common case (present, unexpired) takes no lock.
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        with self._lock:
            return self._live(key)

    def read_local(self, key: str) -> bytes | None:
        """:meth:`get` (:class:`~.base.LocalReads`): everything here is in this process, so
        every read is answered locally, and never :data:`~.base.NOT_LOCAL`."""
        # get's body, not a call of it: this runs on every signed-in request.
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        with self._lock:
            self._put(key, value, ttl)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if absent; True when stored."""
        with self._lock:
            if self._live(key) is not None:
                return False
            self._put(key, value, ttl)
            return True

    def take(self, key: str) -> bytes | None:
        """Get and delete atomically."""
        with self._lock:
            value = self._live(key)
            if value is not None:
                self._remove(key)
            return value

    def delete(self, key: str) -> None:
        """Delete if present."""
        with self._lock:
            self._remove(key)

    def delete_if(self, key: str, value: bytes) -> bool:
        """Delete only while ``key`` still holds ``value``."""
        with self._lock:
            if self._live(key) != value:
                return False
            self._remove(key)
            return True

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` only while ``key`` still holds ``expected``."""
        with self._lock:
            if self._live(key) != expected:
                return False
            self._put(key, value, ttl)
            return True

    # The asynchronous face: the work is in memory and short, so it runs inline.
    async def aget(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        return self.get(key)

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """Async :meth:`set`."""
        self.set(key, value, ttl=ttl)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`add`."""
        return self.add(key, value, ttl=ttl)

    async def atake(self, key: str) -> bytes | None:
        """Async :meth:`take`."""
        return self.take(key)

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        self.delete(key)

    async def adelete_if(self, key: str, value: bytes) -> bool:
        """Async :meth:`delete_if`."""
        return self.delete_if(key, value)

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`replace_if`."""
        return self.replace_if(key, expected, value, ttl=ttl)
