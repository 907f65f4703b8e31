"""The store's operations as values, and one way to perform each on a sync or async store.

The session flows yield these instead of calling a store, so each protocol step is written
once for both kinds of store; :func:`perform` and :func:`aperform` carry one out. A store
that keeps its records in more than one place (the Django one) matches on them too. Each
operation stands for the :class:`~.base.Store` method of the same meaning and has its
result: a :data:`Read` gives ``bytes | None``, a :data:`Write` None, a :data:`Conditional`
whether it happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias, overload

from .base import AsyncStore, Store

__all__ = [
    "Add",
    "Conditional",
    "Delete",
    "DeleteIf",
    "Get",
    "Put",
    "Read",
    "ReplaceIf",
    "Result",
    "StoreOp",
    "StoreOperation",
    "Take",
    "Write",
    "aperform",
    "perform",
]


class StoreOp:
    """One store operation, on ``key``."""

    __slots__ = ()
    key: str


@dataclass(frozen=True, slots=True)
class Get(StoreOp):
    """:meth:`Store.get`: the value, or None."""

    key: str


@dataclass(frozen=True, slots=True)
class Put(StoreOp):
    """:meth:`Store.set`: store ``value`` for ``ttl`` seconds."""

    key: str
    value: bytes = field(repr=False)
    ttl: float


@dataclass(frozen=True, slots=True)
class Add(StoreOp):
    """:meth:`Store.add`: store only if absent; True when stored."""

    key: str
    value: bytes = field(repr=False)
    ttl: float


@dataclass(frozen=True, slots=True)
class Take(StoreOp):
    """:meth:`Store.take`: get and delete in one atomic step."""

    key: str


@dataclass(frozen=True, slots=True)
class Delete(StoreOp):
    """:meth:`Store.delete`."""

    key: str


@dataclass(frozen=True, slots=True)
class DeleteIf(StoreOp):
    """:meth:`Store.delete_if`: delete only while ``key`` holds ``value``."""

    key: str
    value: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReplaceIf(StoreOp):
    """:meth:`Store.replace_if`: compare-and-set against ``expected``."""

    key: str
    expected: bytes = field(repr=False)
    value: bytes = field(repr=False)
    ttl: float


#: The operations that read a value (``bytes | None``).
Read: TypeAlias = Get | Take
#: The operations that write unconditionally (None).
Write: TypeAlias = Put | Delete
#: The operations that write only if the key is as expected (True when they did).
Conditional: TypeAlias = Add | DeleteIf | ReplaceIf
#: Every store operation.
StoreOperation: TypeAlias = Read | Write | Conditional
#: What an operation gives back.
Result: TypeAlias = bytes | bool | None


@overload
def perform(store: Store, op: Read) -> bytes | None: ...
@overload
def perform(store: Store, op: Write) -> None: ...
@overload
def perform(store: Store, op: Conditional) -> bool: ...
def perform(store: Store, op: StoreOperation) -> Result:
    """Carry out ``op`` on ``store``; its result."""
    match op:
        case Get(key):
            return store.get(key)
        case Put(key, value, ttl):
            store.set(key, value, ttl=ttl)
            return None
        case Add(key, value, ttl):
            return store.add(key, value, ttl=ttl)
        case Take(key):
            return store.take(key)
        case Delete(key):
            store.delete(key)
            return None
        case DeleteIf(key, value):
            return store.delete_if(key, value)
        case ReplaceIf(key, expected, value, ttl):
            return store.replace_if(key, expected, value, ttl=ttl)


@overload
async def aperform(store: AsyncStore, op: Read) -> bytes | None: ...
@overload
async def aperform(store: AsyncStore, op: Write) -> None: ...
@overload
async def aperform(store: AsyncStore, op: Conditional) -> bool: ...
async def aperform(store: AsyncStore, op: StoreOperation) -> Result:
    """Carry out ``op`` on an asynchronous ``store``; its result."""
    match op:
        case Get(key):
            return await store.aget(key)
        case Put(key, value, ttl):
            await store.aset(key, value, ttl=ttl)
            return None
        case Add(key, value, ttl):
            return await store.aadd(key, value, ttl=ttl)
        case Take(key):
            return await store.atake(key)
        case Delete(key):
            await store.adelete(key)
            return None
        case DeleteIf(key, value):
            return await store.adelete_if(key, value)
        case ReplaceIf(key, expected, value, ttl):
            return await store.areplace_if(key, expected, value, ttl=ttl)
