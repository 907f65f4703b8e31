"""A browser's records as kept in its Django session: ``{key: [base64 value, expires at]}``.

Pure functions over that dict (the clock's reading is passed in): the store operations of
:class:`~redtrust_middleware.stores.Store` applied to one browser's records.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["MAX_RECORDS", "Records", "apply", "live"]

#: At most this many records per browser (one session and a few pending logins).
MAX_RECORDS = 16
Records = dict[str, list[Any]]  # key -> [base64 value, expires at]


def live(records: Any, now: float) -> Records:
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


def _with(records: Records, key: str, value: bytes | None, expires_at: float = 0) -> Records:
    records = dict(records)
    if value is None:
        records.pop(key, None)
    else:
        records[key] = [base64.b64encode(value).decode(), expires_at]
        while len(records) > MAX_RECORDS:
            records.pop(min(records, key=lambda k: records[k][1]))
    return records


def apply(
    records: Records, key: str, op: str, value: Any, expected: Any, ttl: float, now: float
) -> tuple[Any, Records | None]:
    """A store operation on this browser's live records: its result and the records to
    save (None: unchanged)."""
    current = _value(records, key)
    if op == "get":
        return current, None
    if op == "set":
        return None, _with(records, key, value, now + ttl)
    if op == "add":
        return (
            (False, None) if current is not None else (True, _with(records, key, value, now + ttl))
        )
    if op in ("take", "delete"):
        changed = _with(records, key, None) if key in records else None
        return (current if op == "take" else None), changed
    if op == "delete_if":
        return (True, _with(records, key, None)) if current == expected else (False, None)
    if op == "replace_if":
        if current != expected or current is None:
            return False, None
        return True, _with(records, key, value, now + ttl)
    raise ValueError(op)  # pragma: no cover
