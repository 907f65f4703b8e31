"""The store protocol: a small key-value contract every session store fulfils.

Stores keep opaque bytes; encryption happens above them (:mod:`.sealing`), so any store,
including one you write, keeps only ciphertext. Every method has a synchronous form and an
``a``-prefixed asynchronous form. Failures to reach the backing service raise
:class:`~redtrust_middleware.exceptions.StoreError`; a missing or expired key is ``None``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final, Literal, Protocol, TypeAlias, runtime_checkable

from .._clock import Clock

__all__ = [
    "NOT_LOCAL",
    "AsyncStore",
    "LocalEntries",
    "LocalEntry",
    "LocalReads",
    "LocalValue",
    "Store",
]


class _NotLocal(enum.Enum):
    NOT_LOCAL = "NOT_LOCAL"


#: What :meth:`LocalReads.read_local` answers when only the backing service can tell.
NOT_LOCAL: Final = _NotLocal.NOT_LOCAL
#: A value known in this process (bytes, or None for "absent"), or :data:`NOT_LOCAL`.
LocalValue: TypeAlias = "bytes | Literal[_NotLocal.NOT_LOCAL] | None"


@runtime_checkable
class Store(Protocol):
    """Synchronous store. ``ttl`` is in seconds and always positive."""

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if ``key`` is absent (atomic); True when stored."""

    def take(self, key: str) -> bytes | None:
        """Get and delete in one atomic step: of two concurrent callers one gets the value."""

    def delete(self, key: str) -> None:
        """Delete ``key`` if present."""

    def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value`` (atomic); True when deleted."""

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` only while ``key`` still holds ``expected`` (atomic compare-and-set).

        False when the key changed or is gone, so a stale writer never overwrites a newer
        record or resurrects a deleted one.
        """


@runtime_checkable
class AsyncStore(Protocol):
    """Asynchronous store: the same contract with ``a``-prefixed coroutines."""

    async def aget(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if ``key`` is absent (atomic); True when stored."""

    async def atake(self, key: str) -> bytes | None:
        """Get and delete in one atomic step."""

    async def adelete(self, key: str) -> None:
        """Delete ``key`` if present."""

    async def adelete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value`` (atomic); True when deleted."""

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` only while ``key`` still holds ``expected`` (atomic)."""


@runtime_checkable
class LocalReads(Protocol):
    """A store that can answer some reads in this process, with no I/O and no ``await``.

    The session layer asks :meth:`read_local` first on every request and only falls back to
    ``get``/``aget`` on :data:`NOT_LOCAL`, so a hit costs a dict lookup. A store offering it
    must stay coherent: what it answers is what ``get`` would answer now (an in-process store),
    or what it answered until the backing service told this process of a change (a cache kept
    coherent by server-assisted invalidation).
    """

    def read_local(self, key: str) -> LocalValue:
        """The value as this process knows it (None: known absent), or :data:`NOT_LOCAL`."""


#: An entry of :class:`LocalEntries`: (the deadline on the store's clock, the value).
LocalEntry: TypeAlias = "tuple[float, bytes]"


@runtime_checkable
class LocalEntries(Protocol):
    """A store holding its entries in this process as immutable pairs, replaced on every write.

    Lets the web faces check "still the same record" on a signed-in request by identity, with
    no method call, no lock and no clock: an entry that is still the one read before holds
    the same bytes, under the same deadline, as then. The contract: while ``clock()`` is
    before an entry's deadline, ``read_local`` of its key answers the entry's value, and
    every write, removal or expiry puts another entry (or none) under the key.
    """

    @property
    def clock(self) -> Clock:
        """The clock the entries' deadlines are on."""

    def local_entries(self) -> Callable[[str], LocalEntry | None] | None:
        """The reader of the entries (key -> the entry now under it, maybe past its deadline,
        or None), or None when reads must go through ``read_local`` (a subclass that answers
        them its own way). Asked when a session manager takes the store."""
