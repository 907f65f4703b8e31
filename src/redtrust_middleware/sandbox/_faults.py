"""The sandbox's fault knobs as values, checked once for every way of setting them.

The Python API (:meth:`Sandbox.fail_next` ...), the command line (``redtrust sandbox
--fail-next refresh:503:3``, ``redtrust sandbox-fault``) and the control endpoint
(``POST /_sandbox/faults``) all build the same :class:`Fault` and :class:`FaultChange`
values, so they accept the same things and refuse the rest with the same words. Endpoint
names are passed in (the route table owns them), so this module imports no routes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._hostile import HOSTILE_KINDS

__all__ = [
    "ANY_ENDPOINT",
    "CHANGE_KEYS",
    "FAULT_SYNTAX",
    "Fault",
    "FaultChange",
    "FaultKind",
    "check_latency",
    "parse_fault",
    "plan_json",
]

#: ``fail`` answers an error status, ``hostile`` a hostile answer, both instead of handling the
#: call; ``drop`` handles the call and loses its answer.
FaultKind = Literal["fail", "hostile", "drop"]
_KINDS = frozenset(get_args(FaultKind))
#: The endpoint written on the command line for "any endpoint".
ANY_ENDPOINT = "any"
#: Command-line syntax of each kind.
FAULT_SYNTAX: Mapping[FaultKind, str] = {
    "fail": "ENDPOINT:STATUS[:COUNT]",
    "hostile": "ENDPOINT:KIND[:COUNT]",
    "drop": "ENDPOINT[:COUNT]",
}
_EXAMPLES: Mapping[FaultKind, str] = {
    "fail": "refresh:503:3",
    "hostile": "refresh:not-json",
    "drop": "refresh:2",
}
#: The JSON keys of ``POST /_sandbox/faults`` that plan faults, by kind.
_LIST_KEYS: Mapping[str, FaultKind] = {
    "fail_next": "fail",
    "misbehave_next": "hostile",
    "drop_next": "drop",
}
#: Every key ``POST /_sandbox/faults`` accepts.
CHANGE_KEYS = ("clear", "latency", *_LIST_KEYS)


def check_latency(seconds: object) -> float:
    """``seconds`` as a latency; ``TypeError``/``ValueError`` naming the fix otherwise."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError("latency must be a number of seconds")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("latency must be a finite number of seconds >= 0")
    return float(seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """``count`` planned faults of ``kind`` for calls to ``endpoint`` (``None``: any).

    ``status`` is the answer of a ``fail`` (an error status, 400-599), ``variant`` the
    hostile answer of a ``hostile`` fault (:data:`HOSTILE_KINDS`). Build it with
    :meth:`checked`, which refuses what the sandbox cannot do.
    """

    kind: FaultKind
    count: int = 1
    endpoint: str | None = None
    status: int = 0
    variant: str = ""

    @classmethod
    def checked(
        cls,
        kind: FaultKind,
        *,
        endpoints: Set[str],
        count: object = 1,
        endpoint: object = None,
        status: object = 503,
        variant: object = "",
    ) -> Fault:
        """A valid fault, or ``ValueError`` naming the argument and what it may be."""
        name: str | None = None
        if endpoint is not None:
            if not isinstance(endpoint, str) or endpoint not in endpoints:
                raise ValueError(f"endpoint must be one of {', '.join(sorted(endpoints))}")
            name = endpoint
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an int >= 1")
        if kind == "fail":
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
                raise ValueError("status must be an HTTP error status (400-599)")
            return cls(kind=kind, count=count, endpoint=name, status=status)
        if kind == "hostile":
            if not isinstance(variant, str) or variant not in HOSTILE_KINDS:
                raise ValueError(f"kind must be one of {', '.join(sorted(HOSTILE_KINDS))}")
            return cls(kind=kind, count=count, endpoint=name, variant=variant)
        if kind == "drop":
            return cls(kind=kind, count=count, endpoint=name)
        raise ValueError(f"the fault must be one of {', '.join(sorted(_KINDS))}")

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``/_sandbox/faults`` (in a plan, ``count`` is what is left)."""
        data: dict[str, Any] = {"endpoint": self.endpoint, "count": self.count}
        if self.kind == "fail":
            data["status"] = self.status
        elif self.kind == "hostile":
            data["kind"] = self.variant
        return data

    def describe(self) -> str:
        """One line for people: ``fail refresh 503 (3 left)``."""
        what = {"fail": str(self.status), "hostile": self.variant, "drop": ""}[self.kind]
        words = [self.kind, self.endpoint or "any endpoint", what, f"({self.count} left)"]
        return " ".join(word for word in words if word)


def plan_json(latency: float, faults: Sequence[Fault]) -> dict[str, Any]:
    """A fault plan as JSON, in the shape of a ``POST /_sandbox/faults`` body."""
    plan: dict[str, Any] = {"latency": latency}
    for key, kind in _LIST_KEYS.items():
        plan[key] = [fault.to_json() for fault in faults if fault.kind == kind]
    return plan


def parse_fault(kind: FaultKind, text: str, endpoints: Set[str]) -> Fault:
    """Read a fault written on the command line (:data:`FAULT_SYNTAX`); ``any`` is any endpoint.

    Raises:
        ValueError: the message names the part at fault and gives an example.
    """
    example = f"e.g. {_EXAMPLES[kind]}"
    parts = text.split(":")
    fields = 1 if kind == "drop" else 2  # before the optional COUNT
    if not fields <= len(parts) <= fields + 1 or not all(parts):
        raise ValueError(f"expected {FAULT_SYNTAX[kind]}, {example}")
    endpoint = None if parts[0] == ANY_ENDPOINT else parts[0]
    if endpoint is not None and endpoint not in endpoints:
        names = ", ".join(sorted(endpoints))
        raise ValueError(f"ENDPOINT must be one of {names}, or {ANY_ENDPOINT}; {example}")
    count = parts[fields] if len(parts) > fields else "1"
    if not (count.isascii() and count.isdigit()) or int(count) < 1:
        raise ValueError(f"COUNT must be a whole number >= 1, {example}")
    status = parts[1] if kind == "fail" else "503"
    if not (status.isascii() and status.isdigit()) or not 400 <= int(status) < 600:
        raise ValueError(f"STATUS must be an HTTP error status (400-599), {example}")
    variant = parts[1] if kind == "hostile" else ""
    if kind == "hostile" and variant not in HOSTILE_KINDS:
        raise ValueError(f"KIND must be one of {', '.join(sorted(HOSTILE_KINDS))}; {example}")
    return Fault.checked(
        kind,
        endpoints=endpoints,
        count=int(count),
        endpoint=endpoint,
        status=int(status),
        variant=variant,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultChange:
    """One change of the fault plan: forget the planned faults (``clear``) first, then set
    ``latency`` (unless ``None``), then plan ``faults`` in order."""

    clear: bool = False
    latency: float | None = None
    faults: tuple[Fault, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any], endpoints: Set[str]) -> FaultChange:
        """Read the body of ``POST /_sandbox/faults``.

        ``{"clear": true, "latency": 2.5, "fail_next": [{"endpoint": "refresh", "status":
        503, "count": 3}], "misbehave_next": [{"kind": "not-json"}], "drop_next":
        [{"endpoint": "refresh", "count": 2}]}``; every key is optional, ``endpoint``
        absent or ``null`` means any endpoint.

        Raises:
            ValueError: naming the key at fault and what it may be.
        """
        if set(body) - set(CHANGE_KEYS):  # never echoed: messages name fields, not input
            raise ValueError(f"unknown key; the keys are {', '.join(CHANGE_KEYS)}")
        clear = body.get("clear", False)
        if not isinstance(clear, bool):
            raise ValueError("clear must be true or false")
        latency = body.get("latency")
        if latency is not None:
            try:
                latency = check_latency(latency)
            except (TypeError, ValueError) as error:
                raise ValueError(str(error)) from None
        faults: list[Fault] = []
        for key, kind in _LIST_KEYS.items():
            items = body.get(key, [])
            if not isinstance(items, list):
                raise ValueError(f"{key} must be a list of objects")
            for index, item in enumerate(items):
                faults.append(_fault_from_json(key, index, kind, item, endpoints))
        return cls(clear=clear, latency=latency, faults=tuple(faults))

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /_sandbox/faults`` that makes this change."""
        body: dict[str, Any] = {"clear": self.clear}
        if self.latency is not None:
            body["latency"] = self.latency
        for key, items in plan_json(0.0, self.faults).items():
            if key != "latency" and items:
                body[key] = items
        return body


def _fault_from_json(
    key: str, index: int, kind: FaultKind, item: object, endpoints: Set[str]
) -> Fault:
    where = f"{key}[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object")
    allowed = {"endpoint", "count"} | {"fail": {"status"}, "hostile": {"kind"}, "drop": set()}[kind]
    if set(item) - allowed:
        raise ValueError(f"{where} has an unknown key; allowed: {', '.join(sorted(allowed))}")
    try:
        return Fault.checked(
            kind,
            endpoints=endpoints,
            count=item.get("count", 1),
            endpoint=item.get("endpoint"),
            status=item.get("status", 503),
            variant=item.get("kind", ""),
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
