"""Reading the library's log records as a log store would: their events, their fields, and
every credential that must never be among them.

The credentials come from the wire, not from the library: :func:`watch_wire` wraps the
sandbox and keeps every value that crossed it (request bodies and signature headers, the
tokens in each answer), so a token the library forgot to name is still looked for.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2

from redtrust_middleware.logevents import EVENTS, PREFIX
from redtrust_middleware.sandbox import Sandbox

# What a bare LogRecord carries: anything else came with extra=.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
# The library's loggers, and the faces'; not the sandbox (it stands in for Redtrust).
_OURS = ("redtrust_middleware", "redtrust_django", "redtrust_starlette", "redtrust_flask")
# Values on the wire that are credentials: long opaque strings (tokens, JWTs, signatures,
# temporary tokens, passwords are in TEST_USERS and added by the callers).
_OPAQUE = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,}")
# Redtrust's error codes (INVALID_REFRESH_TOKEN): logged on purpose, and no credential.
_CODE = re.compile(r"[A-Z0-9_]+")


def library_records(records: Iterable[logging.LogRecord]) -> list[logging.LogRecord]:
    """The records the library and its faces logged (the sandbox's left out)."""
    return [
        r
        for r in records
        if r.name.startswith(_OURS) and not r.name.startswith("redtrust_middleware.sandbox")
    ]


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """Every attribute ``extra=`` put on ``record``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The library's fields of ``record``, without their prefix."""
    return {k[len(PREFIX) :]: v for k, v in extras(record).items() if k.startswith(PREFIX)}


def events(records: Iterable[logging.LogRecord]) -> list[tuple[str, dict[str, Any]]]:
    """``(event, fields)`` of each library record, in order."""
    found = []
    for record in library_records(records):
        data = fields(record)
        found.append((str(data.pop("event", "")), data))
    return found


def of(records: Iterable[logging.LogRecord], event: str) -> list[dict[str, Any]]:
    """The fields of each record of ``event``."""
    return [data for name, data in events(records) if name == event]


def check_shapes(records: Iterable[logging.LogRecord]) -> None:
    """Every library record names a listed event, at its level, with only its fields."""
    for record in library_records(records):
        data = fields(record)
        event = data.pop("event", None)
        assert event in EVENTS, f"{record.getMessage()!r} carries no listed event ({event})"
        spec = EVENTS[event]
        assert record.levelno == spec.level, (event, record.levelname)
        assert set(data) <= set(spec.fields), (event, sorted(data))
        assert all(v is not None for v in data.values()), (event, data)
        assert json.loads(json.dumps(data)) == data, (event, data)  # plain JSON values


def scan(records: Iterable[logging.LogRecord], secrets: Iterable[str]) -> int:
    """Fail if a secret is in any library record's message, arguments or extra fields;
    the number of records scanned (so a test can tell it scanned something)."""
    wanted = {s for s in secrets if s}
    scanned = library_records(records)
    for record in scanned:
        texts = [record.getMessage(), repr(record.msg), repr(record.args)]
        texts += [f"{k}={v!r}" for k, v in extras(record).items()]
        for text in texts:
            for secret in wanted:
                assert secret not in text, f"a secret in {record.name}: {text[:200]!r}"
    return len(scanned)


class Wire:
    """Every credential-like value that crossed the sandbox, both ways."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def keep(self, text: str) -> None:
        self.values.update(_OPAQUE.findall(text))

    def keep_json(self, raw: bytes) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            return
        for value in _strings(data):
            if _OPAQUE.fullmatch(value) and not _CODE.fullmatch(value):
                self.values.add(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def watch_wire(sandbox: Sandbox) -> Wire:
    """Keep what crosses ``sandbox`` from now on: request bodies, the signature and bearer
    headers, the tokens in every answer (and the temporary tokens it redirects with)."""
    wire = Wire()
    handle = sandbox.handle

    def watched(request: httpx2.Request) -> httpx2.Response:
        request.read()
        wire.keep_json(request.content)
        for name in ("x-hmac-signature", "authorization"):
            if name in request.headers:
                wire.keep(request.headers[name])
        response = handle(request)
        wire.keep_json(response.read())
        return response

    sandbox.handle = watched  # type: ignore[method-assign]
    issue = sandbox.sign_in

    def signing_in(login_url: str, username: str, password: str) -> str:
        callback = issue(login_url, username, password)
        for part in callback.split("?", 1)[-1].split("&"):
            wire.keep(part.partition("=")[2])
        return callback

    sandbox.sign_in = signing_in  # type: ignore[method-assign]
    return wire
