"""Hostile answers for :meth:`Sandbox.misbehave_next`: what a broken or malicious Redtrust
(or a proxy in front of it) might send, so a client's defences can be tested (THREATS row 41).

Each answer replaces the real one and changes no state.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Literal, get_args

import httpx2

__all__ = ["HOSTILE_KINDS", "HostileKind", "hostile_response"]

#: The kinds of hostile answer :meth:`Sandbox.misbehave_next` can give.
HostileKind = Literal[
    "not-json",
    "html",
    "non-object",
    "no-envelope",
    "wrong-types",
    "success-with-error-code",
    "bad-expiration",
    "huge",
    "gzip-bomb",
    "redirect",
]
HOSTILE_KINDS: frozenset[str] = frozenset(get_args(HostileKind))

_HUGE_BYTES = 8 * 1024 * 1024
_BOMB_BYTES = 64 * 1024 * 1024


def _json(body: object, *, status: int = 200) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
        content=json.dumps(body).encode("ascii"),
    )


def _success(data: object, *, code: str = "OK") -> httpx2.Response:
    return _json({"message": "ok", "messageType": "SUCCESS", "errorCode": code, "data": data})


@cache
def _bomb() -> bytes:
    """64 MiB of JSON whitespace, gzip-compressed to about 64 KiB (computed once)."""
    return gzip.compress(b"{" + b" " * _BOMB_BYTES + b"}", compresslevel=9)


def hostile_response(kind: str) -> httpx2.Response:
    """The hostile answer of ``kind`` (one of :data:`HOSTILE_KINDS`)."""
    if kind == "not-json":
        return httpx2.Response(
            200, headers={"Content-Type": "application/json"}, content=b"<html>oops</html>"
        )
    if kind == "html":
        return httpx2.Response(
            200,
            headers={"Content-Type": "text/html; charset=utf-8"},
            content=b"<!doctype html><title>Gateway</title><p>Please sign in</p>",
        )
    if kind == "non-object":
        return _json(["accessToken", "refreshToken"])
    if kind == "no-envelope":
        return _json(
            {"accessToken": "a", "refreshToken": "r", "expiration": "2030-01-01T00:00:00Z"}
        )
    if kind == "wrong-types":
        return _success({"accessToken": 42, "refreshToken": None, "expiration": ["soon"]})
    if kind == "success-with-error-code":
        return _success({}, code="INVALID_REFRESH_TOKEN")
    if kind == "bad-expiration":
        return _success({"accessToken": "a.b.c", "refreshToken": "r", "expiration": "tomorrow"})
    if kind == "huge":
        padded = {"message": " " * _HUGE_BYTES, "messageType": "SUCCESS", "errorCode": "OK"}
        return _json({**padded, "data": {}})
    if kind == "gzip-bomb":
        # stream=, not content=: an httpx2.Response built from content is decoded at once.
        bomb = _bomb()
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(bomb)),
        }
        return httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(bomb))
    if kind == "redirect":
        return httpx2.Response(302, headers={"Location": "https://evil.example/steal"})
    raise ValueError(f"kind must be one of {', '.join(sorted(HOSTILE_KINDS))}")
