"""The one module that imports the HTTP client library (httpx2).

It builds pooled clients with the safety settings every call needs (timeouts, TLS
verification, no redirects) and sends one request, reading at most ``max_response_bytes`` of
the decoded body, so a huge or compressed-bomb answer is cut off. Transport failures become
:class:`~redtrust_middleware.exceptions.TransportError`, telling apart the failures where the
request never reached the server (the only ones that are safe to retry).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx2

from .config import RedtrustConfig
from .exceptions import ProtocolError, TransportError, UpstreamTimeout

__all__ = [
    "IDLE_REUSE_SECONDS",
    "AsyncHTTPClient",
    "HTTPClient",
    "RawResponse",
    "async_send",
    "make_async_client",
    "make_client",
    "plain_client",
    "send",
]

logger = logging.getLogger("redtrust_middleware.http")

HTTPClient = httpx2.Client
AsyncHTTPClient = httpx2.AsyncClient
Transport = httpx2.BaseTransport
AsyncTransport = httpx2.AsyncBaseTransport

# The request never left this machine: a retry cannot duplicate anything.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawResponse:
    """What came back: status, content type and the (capped) body."""

    status: int
    content_type: str
    body: bytes = field(repr=False)
    #: The server's clock from its ``Date`` header (UNIX seconds), when it sent one.
    server_date: float | None = None


#: A pooled connection idle longer than this is closed, not reused. Servers close idle
#: connections on their own timer (gunicorn after 2 s, uvicorn, Node and Apache after 5 s);
#: a request sent just as the server closes is lost after it was sent, which for a refresh
#: is an unknown outcome that spends the refresh token. httpx's default (5 s) equals
#: uvicorn's, so the two raced; staying well under the shortest common timer avoids it.
IDLE_REUSE_SECONDS = 1.0


def _client_options(config: RedtrustConfig) -> dict[str, Any]:
    verify: ssl.SSLContext | bool
    if not config.verify_tls:
        verify = False
    elif config.ca_bundle:
        verify = ssl.create_default_context(cafile=config.ca_bundle)
    else:
        verify = True
    return {
        "verify": verify,
        "timeout": httpx2.Timeout(
            config.timeout, connect=min(config.timeout, 5.0), pool=min(config.timeout, 5.0)
        ),
        "limits": httpx2.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=IDLE_REUSE_SECONDS
        ),
        "follow_redirects": False,  # never forward credentials to another location
        # identity: a compressed answer could expand far past the size cap within one chunk
        "headers": {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "redtrust-middleware",
        },
    }


def _check_transport(transport: object, expected: type[Any], client: str) -> None:
    """Refuse a transport httpx2 cannot drive, at construction, with the fix.

    httpx2 checks nothing when the client is built; a transport of another library (httpx's
    ``MockTransport`` looks the same) fails on the first request with a bare AssertionError
    deep inside httpx2, because its answers are that library's ``Response`` objects.
    """
    if transport is None or isinstance(transport, expected):
        return
    kind = type(transport)
    raise TypeError(
        f"{client}(transport=...) takes an httpx2.{expected.__name__}, not "
        f"{kind.__module__}.{kind.__qualname__}: this library speaks HTTP with httpx2, and a "
        "transport of another HTTP library (httpx, for one) cannot answer it. Build the same "
        "transport from httpx2 instead, e.g. httpx2.MockTransport(handler) for a mock "
        "(the handler takes and returns httpx2.Request / httpx2.Response), or use "
        "Sandbox.transport() / Sandbox.async_transport() for the sandbox"
    )


def make_client(config: RedtrustConfig, transport: Transport | None = None) -> HTTPClient:
    """A pooled synchronous client for ``config`` (``transport`` for tests and the sandbox).

    Raises TypeError for a transport that is not an ``httpx2.BaseTransport``.
    """
    _check_transport(transport, httpx2.BaseTransport, "Client")
    return httpx2.Client(transport=transport, **_client_options(config))


def make_async_client(
    config: RedtrustConfig, transport: AsyncTransport | None = None
) -> AsyncHTTPClient:
    """A pooled asynchronous client for ``config``.

    Raises TypeError for a transport that is not an ``httpx2.AsyncBaseTransport``.
    """
    _check_transport(transport, httpx2.AsyncBaseTransport, "AsyncClient")
    return httpx2.AsyncClient(transport=transport, **_client_options(config))


def plain_client() -> HTTPClient:
    """A client with no Redtrust credentials, playing a browser in demos and tools."""
    return httpx2.Client(timeout=10.0, follow_redirects=False)


def _build(
    client: HTTPClient | AsyncHTTPClient,
    method: str,
    url: str,
    headers: Mapping[str, str],
    json_body: Mapping[str, Any] | None,
    time_limit: float,
) -> httpx2.Request:
    # Reads and writes get the call's own limit (a refresh may have a longer one than the
    # client's default); connecting and waiting for the pool keep the client's.
    default = client.timeout
    timeout = httpx2.Timeout(time_limit, connect=default.connect, pool=default.pool)
    return client.build_request(method, url, headers=dict(headers), json=json_body, timeout=timeout)


def _transport_error(error: Exception, operation: str) -> TransportError:
    name = type(error).__name__
    if isinstance(error, _NOT_SENT):
        return TransportError(
            f"could not connect ({name})", operation=operation, reached_server=False
        )
    if isinstance(error, httpx2.TimeoutException):
        return UpstreamTimeout(f"no answer in time ({name})", operation=operation)
    return TransportError(f"the connection failed ({name})", operation=operation)


class _BodyReader:
    """Checks the head of a response and collects its body within the size and time limits.

    httpx's timeouts bound each read, not the whole answer: a server dripping one byte at a
    time would never trip them. The deadline bounds the whole attempt (durations are measured
    on the monotonic clock; the injected wall clock is for protocol decisions).
    """

    def __init__(
        self, response: httpx2.Response, limit: int, operation: str, deadline: float
    ) -> None:
        self._response = response
        self._limit = limit
        self._operation = operation
        self._deadline = deadline
        self._chunks: list[bytes] = []
        self._size = 0
        if 300 <= response.status_code < 400:
            self._fail("unexpected redirect (not followed)")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            self._fail("response too large")
        self._check_time()

    def _fail(self, reason: str) -> None:
        raise ProtocolError(reason, operation=self._operation, status=self._response.status_code)

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise UpstreamTimeout("no complete answer in time", operation=self._operation)

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._fail("response too large")
        self._check_time()
        self._chunks.append(chunk)

    def result(self) -> RawResponse:
        headers = self._response.headers
        return RawResponse(
            status=self._response.status_code,
            content_type=headers.get("content-type", ""),
            body=b"".join(self._chunks),
            server_date=_parse_date(headers.get("date")),
        )


def _parse_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:  # asctime form and "-0000": HTTP dates are always GMT
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (TypeError, ValueError, OverflowError):
        return None


def send(
    client: HTTPClient,
    *,
    operation: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    json_body: Mapping[str, Any] | None,
    limit: int,
    time_limit: float,
) -> RawResponse:
    """Send one request; read at most ``limit`` bytes of the answer within ``time_limit`` s."""
    request = _build(client, method, url, headers, json_body, time_limit)
    deadline = time.monotonic() + time_limit
    try:
        response = client.send(request, stream=True)
        try:
            reader = _BodyReader(response, limit, operation, deadline)
            for chunk in response.iter_bytes():
                reader.feed(chunk)
            return reader.result()
        finally:
            response.close()
    except httpx2.HTTPError as error:
        raise _transport_error(error, operation) from None


async def async_send(
    client: AsyncHTTPClient,
    *,
    operation: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    json_body: Mapping[str, Any] | None,
    limit: int,
    time_limit: float,
) -> RawResponse:
    """The asynchronous twin of :func:`send`; the deadline also covers the headers."""
    request = _build(client, method, url, headers, json_body, time_limit)
    deadline = time.monotonic() + time_limit
    try:
        # One second more than the transport's own timeouts, so that a connect or pool
        # timeout is still reported as such (the request never left: safe to retry).
        with anyio.fail_after(time_limit + 1):
            response = await client.send(request, stream=True)
            try:
                reader = _BodyReader(response, limit, operation, deadline)
                async for chunk in response.aiter_bytes():
                    reader.feed(chunk)
                return reader.result()
            finally:
                await response.aclose()
    except TimeoutError:
        raise UpstreamTimeout("no complete answer in time", operation=operation) from None
    except httpx2.HTTPError as error:
        raise _transport_error(error, operation) from None
