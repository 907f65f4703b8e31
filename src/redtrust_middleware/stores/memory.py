"""The in-memory store: the default for a single process, bounded in size."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .._clock import Clock, system_clock

__all__ = ["MemoryStore"]

# Stand-in for a namespace that does not exist yet; never written to.
_NOWHERE: OrderedDict[str, tuple[float, bytes]] = OrderedDict()


class MemoryStore:
    """A process-local store with TTLs and a size bound per namespace.

    Keys are grouped by namespace (the text before the last ``:``) and each namespace keeps at
    most ``max_entries``: when full, expired entries go first, then the least recently written.
    So a flood of login starts can evict only other pending logins, never signed-in sessions.
    Safe from threads and from event loops (no operation blocks for long).

    Sessions live only as long as the process: use a shared store (Redis) to run several.
    """

    def __init__(self, *, max_entries: int = 100_000, clock: Clock = system_clock) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._spaces: dict[str, OrderedDict[str, tuple[float, bytes]]] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self)}, max_entries={self._max})"

    def __len__(self) -> int:
        with self._lock:
            return sum(len(space) for space in self._spaces.values())

    def _space(self, key: str) -> OrderedDict[str, tuple[float, bytes]]:
        """The namespace of ``key``; reads of an unknown one do not create it."""
        return self._spaces.get(key.rpartition(":")[0], _NOWHERE)

    def _live(self, key: str) -> bytes | None:
        space = self._space(key)
        entry = space.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del space[key]
            return None
        return entry[1]

    def _put(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        space = self._spaces.setdefault(key.rpartition(":")[0], OrderedDict())
        space.pop(key, None)
        if len(space) >= self._max:
            now = self._clock()
            for stale in [k for k, (expires, _) in space.items() if expires <= now]:
                del space[stale]
            while len(space) >= self._max:
                space.popitem(last=False)
        space[key] = (self._clock() + ttl, value)

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        # A dict read is atomic: the common case (present, unexpired) takes no lock.
        entry = self._space(key).get(key)
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
                del self._space(key)[key]
            return value

    def delete(self, key: str) -> None:
        """Delete if present."""
        with self._lock:
            self._space(key).pop(key, None)

    def delete_if(self, key: str, value: bytes) -> bool:
        """Delete only while ``key`` still holds ``value``."""
        with self._lock:
            if self._live(key) != value:
                return False
            del self._space(key)[key]
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
