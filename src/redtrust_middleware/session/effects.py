"""What a flow asks its driver to do, and the one loop that drives a flow.

A flow is a generator that decides and *yields effects*: the store operations of
:mod:`redtrust_middleware.stores.operations`, a call to Redtrust (:class:`Exchange`,
:class:`Refresh`, :class:`Logout`) or a pause (:class:`Sleep`). The driver performs each
effect and sends its result back in (or throws its exception in). :func:`drive` and
:func:`adrive` are that loop, sync and async; both close the flow however it ends, so an
abandoned or failing flow runs its cleanup at once rather than when it is collected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from ..exceptions import StoreError
from ..hooks import Event
from ..logevents import log
from ..stores.operations import Add, Delete, DeleteIf, Get, Put, ReplaceIf, Take
from ..tokens import TokenSet

__all__ = [
    "Add",
    "Delete",
    "DeleteIf",
    "Effect",
    "Exchange",
    "Flow",
    "Get",
    "Lease",
    "Logout",
    "Notify",
    "Put",
    "Refresh",
    "ReplaceIf",
    "Sleep",
    "Take",
    "adrive",
    "best_effort",
    "drive",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Exchange:
    """Exchange a callback's temporary token for a token set."""

    temp_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Lease:
    """A store lock held by ``owner`` for ``seconds`` at a time."""

    key: str
    owner: bytes = field(repr=False)
    seconds: float


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh ``tokens`` at Redtrust; the new token set."""

    tokens: TokenSet
    #: The store lock held meanwhile; the driver renews its lease while the call runs.
    lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class Logout:
    """End ``tokens``' session at Redtrust."""

    tokens: TokenSet


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the app's hooks about ``event`` (the driver runs them once the operation is over,
    its locks released); its result is None."""

    event: Event


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause this flow for ``seconds``."""

    seconds: float


Effect: TypeAlias = (
    Get
    | Put
    | Add
    | Take
    | Delete
    | DeleteIf
    | ReplaceIf
    | Exchange
    | Refresh
    | Logout
    | Sleep
    | Notify
)
#: A flow that ends with a ``T``; each effect's result is sent back in.
Flow: TypeAlias = Generator[Effect, Any, T]


def drive(flow: Flow[T], perform: Callable[[Effect], Any]) -> T:
    """Run ``flow`` to its end, performing each effect with ``perform``; its result.

    An exception from ``perform`` is thrown into the flow, which may handle it. The flow is
    closed however this ends (its result, its error, or an error that is not an
    ``Exception``, such as a ``KeyboardInterrupt``).
    """
    try:
        effect = next(flow)
        while True:
            try:
                result = perform(effect)
            except Exception as error:
                effect = flow.throw(error)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        flow.close()


async def adrive(flow: Flow[T], perform: Callable[[Effect], Awaitable[Any]]) -> T:
    """:func:`drive` with an asynchronous ``perform``; a cancellation closes the flow too."""
    try:
        effect = next(flow)
        while True:
            try:
                result = await perform(effect)
            except Exception as error:
                effect = flow.throw(error)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        flow.close()


def best_effort(effect: Effect, what: str) -> Flow[Any]:
    """Perform ``effect``; a store failure is logged, not raised (the result is None)."""
    try:
        return (yield effect)
    except StoreError as error:
        log(
            logger,
            "redtrust.store.failed",
            "redtrust: could not %s (store unavailable)",
            what,
            operation=what.replace(" ", "_"),
            error_type=type(error).__name__,
        )
        return None
