"""Serving :meth:`Sandbox.handle` as an ASGI 3 application (over real sockets via uvicorn).

The app reads the body under the size cap, builds an ``httpx2.Request`` (carrying the peer's
address for the control routes), runs the one synchronous handler, holds the answer for the
configured latency and sends it with a ``Date`` header from the sandbox's own clock (the
server's must be off: :func:`serve` and :func:`running` turn uvicorn's off). It logs one
line per request (method, path without the query string, status) on
``redtrust_middleware.sandbox``: query strings carry signatures and tokens, so they are
never logged.

A response marked by ``drop_next`` is not delivered: the call was handled (state changed),
then the connection is closed without a byte of the answer, just like an answer lost on the
way back. ASGI has no message for that (an app that raises or returns before
``http.response.start`` gets a 500 from uvicorn, which is an answer), so the app closes the
connection's transport, which uvicorn's ``send`` carries (``send.__self__.transport``), and
waits for uvicorn to see the disconnect. Under a server without that attribute it falls back
to sending the status line and headers and then closing before the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import httpx2

from ._errors import INVALID_REQUEST, PAYLOAD_TOO_LARGE
from ._http import envelope

if TYPE_CHECKING:
    from ._sandbox import Sandbox

__all__ = [
    "DROP_EXTENSION",
    "LATENCY_EXTENSION",
    "PEER_EXTENSION",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "printable",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Response extension set on answers that the transports must not deliver (``drop_next``).
DROP_EXTENSION = "redtrust_sandbox.drop"
#: Response extension: seconds to hold the answer back (``Sandbox.latency``).
LATENCY_EXTENSION = "redtrust_sandbox.latency"
#: Request extension: the peer's IP address, set on requests that came over a network socket.
PEER_EXTENSION = "redtrust_sandbox.peer"
#: How long a dropping app waits for the server to notice the closed connection.
_DISCONNECT_WAIT = 5.0

logger = logging.getLogger("redtrust_middleware.sandbox")


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe for a log line: controls and non-ASCII escaped, then truncated."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    escaped = "".join(c if " " <= c < "\x7f" else f"\\x{ord(c):02x}" for c in escaped)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body; ``None`` when the client left. Raises ``OverflowError`` past ``limit``."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise OverflowError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise OverflowError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _build_request(scope: Scope, body: bytes) -> httpx2.Request:
    host, port = scope.get("server") or ("127.0.0.1", 80)
    if ":" in host:
        host = f"[{host}]"
    target = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{scope.get('scheme', 'http')}://{host}:{port}{target}" + (f"?{query}" if query else "")
    request = httpx2.Request(scope["method"], url, headers=scope["headers"], content=body)
    client = scope.get("client")
    if client:  # a network peer (None for a Unix socket)
        request.extensions[PEER_EXTENSION] = str(client[0])
    return request


async def _send(send: Send, response: httpx2.Response, *, head_only: bool = False) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": list(response.headers.raw),
        }
    )
    if not head_only:
        # The body as it goes on the wire: a still-unread stream (a gzip-bomb answer) raw.
        raw = response.content if response.is_stream_consumed else b"".join(response.iter_raw())
        await send({"type": "http.response.body", "body": raw})


async def _close_unanswered(receive: Receive, send: Send) -> bool:
    """Close the connection without a byte of the answer; False if the server has no way.

    uvicorn's ``send`` is a bound method of its per-request cycle, which holds the asyncio
    transport of the connection. After closing it, wait for ``http.disconnect``: uvicorn
    then knows the client is gone and answers no 500 of its own.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    close = getattr(transport, "close", None)
    if not callable(close):
        return False
    close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DISCONNECT_WAIT):
            while (await receive())["type"] != "http.disconnect":
                pass
    return True


async def _deliver(
    sandbox: Sandbox, receive: Receive, send: Send, response: httpx2.Response
) -> str:
    """Hold the answer for its latency, then send or drop it; a note for the log line.

    The ``Date`` header is the sandbox's clock at sending (whole seconds, as HTTP dates
    are), so a sandbox on an injected clock is consistent with its tokens' ``iat``.
    """
    latency = float(response.extensions.get(LATENCY_EXTENSION, 0.0))
    if latency > 0:
        await asyncio.sleep(latency)
    if "date" not in response.headers:
        response.headers["Date"] = formatdate(int(sandbox.clock()), usegmt=True)
    if not response.extensions.get(DROP_EXTENSION):
        await _send(send, response)
        return ""
    if await _close_unanswered(receive, send):
        return " (dropped)"
    await _send(send, response, head_only=True)
    return " (dropped after the headers)"


async def _serve(sandbox: Sandbox, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":  # websockets: refuse politely
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        return
    try:
        body = await _read_body(scope, receive, sandbox.config.max_body_bytes)
    except OverflowError:
        response = envelope(413, PAYLOAD_TOO_LARGE, "the request body is too large")
    else:
        if body is None:
            return
        try:
            request = _build_request(scope, body)
        except (httpx2.InvalidURL, ValueError, UnicodeError):
            response = envelope(400, INVALID_REQUEST, "the request line is not a valid URL")
        else:
            response = sandbox.handle(request)
    note = await _deliver(sandbox, receive, send, response)
    logger.info(
        "%s %s %d%s",
        printable(scope["method"], 16),
        printable(scope["path"]),
        response.status_code,
        note,
    )


class ASGIApp:
    """The ASGI 3 callable of one sandbox (http and lifespan scopes; websockets refused).

    A plain object with an ``async __call__``, so servers detect ASGI 3 by themselves.
    """

    __slots__ = ("_sandbox",)

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def __repr__(self) -> str:
        return f"ASGIApp({self._sandbox!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI connection scope."""
        await _serve(self._sandbox, scope, receive, send)
