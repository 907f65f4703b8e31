"""A browser's records as kept in its Django session: ``{key: [base64 value, expires at]}``.

Pure functions over that dict (the clock's reading is passed in): the core's typed store
operations (:mod:`redtrust_middleware.stores.operations`) applied to one browser's records.
The only state is a bounded memo of decoded values: every signed-in request reads the same
base64 text until the record changes, so it is decoded once per write, not once per request,
and the core, which remembers opened records by their bytes, is handed the same bytes object.
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

from ._memo import Bounded

__all__ = ["DECODED_ENTRIES", "MAX_RECORDS", "Records", "apply", "live", "read"]

#: At most this many records per browser (one session and a few pending logins).
MAX_RECORDS = 16
#: Decoded values remembered, as many as the core remembers opened records (a value decoded
#: again would also be a new bytes object, hashed again by the core's memo).
DECODED_ENTRIES = 10_000
#: The memo finds a text by its last characters: the session engine hands each request a new
#: string, whose hash would cost a pass over all of it (about 1.4 KB), where the end of a
#: sealed record is its authentication tag, unlike any other's. The whole text is then
#: compared: equal text is the only proof of equal bytes.
_TAIL = 32
Records: TypeAlias = dict[str, list[Any]]  # key -> [base64 value, expires at]
#: What an expiry may be (a tuple: ``int | float`` would build a union on every request).
_NUMBER = (int, float)


#: The last characters of a base64 text -> the whole text and its bytes.
_decoded: Bounded[str, tuple[str, bytes]] = Bounded(DECODED_ENTRIES)


def _decode(text: object) -> bytes | None:
    """The bytes of one record's base64 text; None when it is not valid base64 text."""
    if type(text) is str:
        found = _decoded.get(text[-_TAIL:])
        if found is not None and found[0] == text:
            return found[1]
    try:
        value = base64.b64decode(text, validate=True)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None
    if type(text) is str:
        _decoded.put(text[-_TAIL:], (text, value))
    return value


def _is_live(entry: object, now: float) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[1], _NUMBER)
        and entry[1] > now
    )


def live(records: object, now: float) -> Records:
    """The well-formed records not yet expired (anything else in the session is ignored)."""
    if not isinstance(records, dict):
        return {}
    return {k: v for k, v in records.items() if _is_live(v, now)}


def read(records: object, key: str, now: float) -> bytes | None:
    """The live record ``key`` of the session's ``records`` (as ``apply(live(records, now),
    Get(key), now)``, without copying the records: the read of every signed-in request)."""
    if not isinstance(records, dict):
        return None
    entry = records.get(key)
    # `_is_live` and `_decode`'s memo, inline: this runs on every signed-in request.
    if not (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[1], _NUMBER)
        and entry[1] > now
    ):
        return None
    text = entry[0]
    if type(text) is str:
        found = _decoded.get(text[-_TAIL:])
        if found is not None and found[0] == text:
            return found[1]
    return _decode(text)


def _value(records: Records, key: str) -> bytes | None:
    entry = records.get(key)
    return None if entry is None else _decode(entry[0])


def _without(records: Records, key: str) -> Records | None:
    """The records without ``key``; None when there was none (nothing to save)."""
    return _with(records, key, None) if key in records else None


def _with(records: Records, key: str, value: bytes | None, expires_at: float = 0) -> Records:
    records = dict(records)
    if value is None:
        records.pop(key, None)
    else:
        text = base64.b64encode(value).decode()
        if type(value) is bytes:  # immutable: safe to hand to later requests
            _decoded.put(text[-_TAIL:], (text, value))  # the next request reads this write
        records[key] = [text, expires_at]
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
