"""The sandbox over real sockets (uvicorn in a thread) and its ASGI app directly."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running

from ._support import (
    EXCHANGE_PATH,
    FORM_PATH,
    JSON,
    LOGIN_PATH,
    PARTNER,
    RA_REFRESH_PATH,
    SECRET,
    attempt_of,
    envelope_of,
    hmac_hex,
    token_data,
)

pytestmark = pytest.mark.network


def headers_now() -> dict[str, str]:
    now = int(time.time())
    return {
        "x-partner-name": PARTNER,
        "x-request-timestamp": str(now),
        "x-hmac-signature": hmac_hex(PARTNER, now),
    }


@pytest.fixture
def live() -> Sandbox:
    config = SandboxConfig(
        partners={PARTNER: SECRET},
        users={"alice": "wonderland"},
        redirect_prefixes=("http://127.0.0.1:8000/",),
        max_body_bytes=4096,
    )
    return Sandbox(config)


@pytest.fixture
def base_url(live: Sandbox) -> Iterator[str]:
    with running(live) as url:
        yield url


def test_full_flow_over_a_socket(
    live: Sandbox, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert base_url.startswith("http://127.0.0.1:")
    caplog.set_level(logging.INFO, logger="redtrust_middleware.sandbox")
    now = int(time.time())
    params = {
        "Consumer": "RA_API",
        "RedirectUrl": "http://127.0.0.1:8000/callback",
        "timestamp": str(now),
        "partner": PARTNER,
        "hmac": hmac_hex(PARTNER, now),
    }
    with httpx2.Client(base_url=base_url) as client:
        page = client.get(LOGIN_PATH, params=params)
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        form = {"attempt": attempt_of(page.text), "username": "alice", "password": "wonderland"}
        back = client.post(FORM_PATH, data=form)
        assert back.status_code == 302
        token = back.headers["location"].partition("?tkn=")[2]
        # The tutorial's GET with a JSON body survives a real HTTP hop.
        response = client.request(
            "GET", EXCHANGE_PATH, json={"temporalToken": token}, headers=headers_now()
        )
        data = token_data(response)
        token_data(
            client.put(
                RA_REFRESH_PATH, json={"refreshToken": data["refreshToken"]}, headers=headers_now()
            )
        )
        stats = envelope_of(client.get("/_sandbox/stats"), 200, "OK")
        assert stats == {"calls": {"loginrequest": 1, "login_form": 1, "exchange": 1, "refresh": 1}}
        assert client.get("/_sandbox/jwks.json").json() == live.jwks()
    # One log line per request, never the query string (it carries the signature).
    assert f"GET {LOGIN_PATH} 200" in caplog.text
    assert params["hmac"] not in caplog.text
    assert token not in caplog.text
    assert "timestamp=" not in caplog.text


def test_body_cap_and_errors_over_a_socket(base_url: str) -> None:
    with httpx2.Client(base_url=base_url) as client:
        big = {"temporalToken": "x" * 5000}
        envelope_of(
            client.post(EXCHANGE_PATH, json=big, headers=headers_now()), 413, "PAYLOAD_TOO_LARGE"
        )
        envelope_of(client.get("/nope"), 404, "NOT_FOUND")
        response = client.post(
            EXCHANGE_PATH,
            content=b"\xff",
            headers={**headers_now(), "content-type": "application/json"},
        )
        envelope_of(response, 400, "INVALID_REQUEST")


def test_drop_over_a_socket_breaks_the_connection(live: Sandbox, base_url: str) -> None:
    token = live.issue_temp_token("alice")
    live.drop_next(endpoint="exchange")
    with httpx2.Client(base_url=base_url) as client:
        with pytest.raises(httpx2.TransportError):
            client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=headers_now())
        # The exchange did happen: the token is used up.
        response = client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=headers_now())
        envelope_of(response, 401, "INVALID_TEMPORAL_TOKEN")
    assert len(live.sessions_for("alice")) == 1


def test_running_shuts_down_cleanly(live: Sandbox) -> None:
    with running(live) as url:
        assert httpx2.get(f"{url}/_sandbox/stats").status_code == 200
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{url}/_sandbox/stats")


def test_running_refuses_a_port_in_use(live: Sandbox) -> None:
    with running(live) as url:
        port = int(url.rpartition(":")[2])
        with pytest.raises(OSError, match="in use"), running(live, port=port):
            pass  # pragma: no cover


# -- the ASGI app, driven by hand --------------------------------------------------------------


class Channel:
    """Feeds ASGI messages in and records what the app sends."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: Any) -> None:
        self.sent.append(dict(message))


@pytest.mark.anyio
async def test_asgi_lifespan(live: Sandbox) -> None:
    channel = Channel({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    await live.asgi_app({"type": "lifespan"}, channel.receive, channel.send)
    assert [m["type"] for m in channel.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


@pytest.mark.anyio
async def test_asgi_refuses_websockets(live: Sandbox) -> None:
    channel = Channel({"type": "websocket.connect"})
    await live.asgi_app({"type": "websocket"}, channel.receive, channel.send)
    assert channel.sent == [{"type": "websocket.close", "code": 1008}]


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8083),
    }


@pytest.mark.anyio
async def test_asgi_declared_length_over_the_cap(live: Sandbox) -> None:
    channel = Channel()
    scope = http_scope(EXCHANGE_PATH, [(b"content-length", b"99999")])
    await live.asgi_app(scope, channel.receive, channel.send)
    assert channel.sent[0]["status"] == 413


@pytest.mark.anyio
async def test_asgi_chunked_body_over_the_cap(live: Sandbox) -> None:
    chunks = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}] * 5
    channel = Channel(*chunks)
    await live.asgi_app(http_scope(EXCHANGE_PATH, []), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 413


@pytest.mark.anyio
async def test_asgi_client_gone_before_the_body(live: Sandbox) -> None:
    channel = Channel({"type": "http.disconnect"})
    await live.asgi_app(http_scope(EXCHANGE_PATH, []), channel.receive, channel.send)
    assert channel.sent == []
    assert not live.calls


def test_gzip_bomb_goes_compressed_over_a_socket(live: Sandbox, base_url: str) -> None:
    live.misbehave_next("gzip-bomb")
    with httpx2.Client(base_url=base_url) as client, client.stream("GET", "/_sandbox/stats") as r:
        assert r.status_code == 200  # control routes are never faulted
    with httpx2.Client(base_url=base_url) as client:
        headers = {**headers_now(), **JSON}
        with client.stream("POST", EXCHANGE_PATH, content=b"{}", headers=headers) as r:
            assert r.headers["content-encoding"] == "gzip"
            raw = b"".join(r.iter_raw())
    assert len(raw) == int(r.headers["content-length"])
    assert len(raw) < 1024 * 1024
