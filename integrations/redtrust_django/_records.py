"""A browser's records as kept in its Django session: ``{key: [base64 value, expires at]}``.

Pure functions over that dict (the clock's reading is passed in): the core's typed store
operations (:mod:`redtrust_middleware.stores.operations`) applied to one browser's records.
"""

from __future__ import annotations

import base64
from typing import Any, TypeAlias

from redtrust_middleware.stores.operations import (
    Add,
    Delete,
    DeleteIf,
    Get,
    Put,
    ReplaceIf,
    Result,
    StoreOperation,
    Take,
)

__all__ = ["MAX_RECORDS", "Records", "apply", "live"]

#: At most this many records per browser (one session and a few pending logins).
MAX_RECORDS = 16
Records: TypeAlias = dict[str, list[Any]]  # key -> [base64 value, expires at]


def live(records: object, now: float) -> Records:
    """The well-formed records not yet expired (anything else in the session is ignored)."""
    if not isinstance(records, dict):
        return {}
    return {
        k: v
        for k, v in records.items()
        if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int | float) and v[1] > now
    }


def _value(records: Records, key: str) -> bytes | None:
    entry = records.get(key)
    if entry is None:
        return None
    try:
        return base64.b64decode(entry[0], validate=True)
    except (ValueError, TypeError):
        return None


def _without(records: Records, key: str) -> Records | None:
    """The records without ``key``; None when there was none (nothing to save)."""
    return _with(records, key, None) if key in records else None


def _with(records: Records, key: str, value: bytes | None, expires_at: float = 0) -> Records:
    records = dict(records)
    if value is None:
        records.pop(key, None)
    else:
        records[key] = [base64.b64encode(value).decode(), expires_at]
        while len(records) > MAX_RECORDS:
            records.pop(min(records, key=lambda k: records[k][1]))
    return records


def apply(records: Records, op: StoreOperation, now: float) -> tuple[Result, Records | None]:
    """A store operation on this browser's live records: its result and the records to
    save (None: unchanged)."""
    current = _value(records, op.key)
    match op:
        case Get():
            return current, None
        case Put(key, value, ttl):
            return None, _with(records, key, value, now + ttl)
        case Add(key, value, ttl):
            if current is not None:
                return False, None
            return True, _with(records, key, value, now + ttl)
        case Take(key):
            return current, _without(records, key)
        case Delete(key):
            return None, _without(records, key)
        case DeleteIf(key, value):
            if current != value:
                return False, None
            return True, _with(records, key, None)
        case ReplaceIf(key, expected, value, ttl):
            if current is None or current != expected:
                return False, None
            return True, _with(records, key, value, now + ttl)
