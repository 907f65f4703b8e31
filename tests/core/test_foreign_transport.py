"""A transport of another HTTP library is refused when the client is built, with the fix.

httpx's ``MockTransport`` looks like httpx2's, and httpx2 accepts any object as
``transport=``; the first request then dies on a bare ``AssertionError`` inside httpx2
(``assert isinstance(response.stream, SyncByteStream)``), because the answer is the other
library's ``Response``. httpx is not installed here, so its classes are stood in for by ones
with the same shape and the same module name: what httpx2 sees is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from redtrust_middleware import AsyncClient, Client
from redtrust_middleware.testing import make_config, make_sandbox


class ForeignByteStream:
    """Stands for ``httpx.ByteStream``: iterable bytes, not an httpx2 stream."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Any:
        yield self.body

    async def __aiter__(self) -> Any:
        yield self.body


class ForeignResponse:
    """Stands for ``httpx.Response``."""

    def __init__(self, status_code: int, content: bytes = b"{}") -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {"content-type": "application/json"}
        self.stream = ForeignByteStream(content)
        self.extensions: dict[str, object] = {}


class MockTransport:
    """Stands for ``httpx.MockTransport``: sync and async, answers with its own Response."""

    def __init__(self, handler: Callable[[object], ForeignResponse]) -> None:
        self.handler = handler

    def handle_request(self, request: object) -> ForeignResponse:
        return self.handler(request)

    async def handle_async_request(self, request: object) -> ForeignResponse:
        return self.handler(request)

    def __enter__(self) -> MockTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


for _cls in (ForeignByteStream, ForeignResponse, MockTransport):
    _cls.__module__ = "httpx"


def _foreign() -> Any:
    return MockTransport(lambda request: ForeignResponse(200))


def test_httpx2_itself_fails_late_with_a_bare_assertion() -> None:
    """The failure this guards against: httpx2 takes the transport and breaks on use."""
    raw = httpx2.Client(transport=_foreign())
    with pytest.raises(AssertionError) as failure:
        raw.get("https://redtrust.test/")
    assert str(failure.value) == ""


def test_a_foreign_transport_is_refused_by_the_client_with_the_fix() -> None:
    with pytest.raises(TypeError) as refused:
        Client(make_config(), transport=_foreign())
    message = str(refused.value)
    assert "httpx2.BaseTransport" in message
    assert "httpx.MockTransport" in message  # what was given
    assert "httpx2.MockTransport(handler)" in message  # what to use instead


def test_a_foreign_transport_is_refused_by_the_async_client() -> None:
    with pytest.raises(TypeError, match=r"httpx2\.AsyncBaseTransport, not httpx\.MockTransport"):
        AsyncClient(make_config(), transport=_foreign())


def test_httpx2_transports_are_still_taken() -> None:
    sandbox = make_sandbox()
    with Client(make_config(), transport=sandbox.transport()) as client:
        assert client.exchange(sandbox.issue_temp_token("alice")).subject == "alice"
    mock = httpx2.MockTransport(lambda request: httpx2.Response(200))
    AsyncClient(make_config(), transport=mock)  # builds; one MockTransport serves both
