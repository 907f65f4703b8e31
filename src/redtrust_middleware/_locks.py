"""In-process locks keyed by name, for single-flight refresh inside one process.

An entry exists only while someone holds or waits for it, so memory follows concurrency,
not the number of sessions ever seen.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio

__all__ = ["AsyncKeyedLocks", "KeyedLocks"]


class KeyedLocks:
    """One ``threading.Lock`` per key, for threads."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str, *, timeout: float = -1) -> Iterator[None]:
        """Hold the lock of ``key`` for the ``with`` block; TimeoutError after ``timeout`` s."""
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=timeout):
                raise TimeoutError(f"lock not acquired within {timeout} s")
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def waiting(self, key: str) -> int:
        """How many wait for the lock of ``key`` now (besides its holder)."""
        entry = self._locks.get(key)
        return 0 if entry is None else max(entry[1] - 1, 0)

    def __len__(self) -> int:
        return len(self._locks)


class AsyncKeyedLocks:
    """One ``anyio.Lock`` per key, for tasks of one event loop."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the ``async with`` block."""
        # No await between reading and writing the table: tasks cannot interleave here.
        lock, users = self._locks.get(key) or (anyio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def waiting(self, key: str) -> int:
        """How many wait for the lock of ``key`` now (besides its holder)."""
        entry = self._locks.get(key)
        return 0 if entry is None else max(entry[1] - 1, 0)

    def __len__(self) -> int:
        return len(self._locks)
