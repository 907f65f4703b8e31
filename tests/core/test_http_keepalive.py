"""The pool never sends on a connection idle long enough for the server to be closing it.

A server closes an idle keep-alive connection on its own timer (uvicorn after 5 s, gunicorn
after 2 s). A request written as it closes is lost *after it was sent*: for a refresh, an
unknown outcome that spends the refresh token and, once the access token expires, signs the
user out. httpx's pool keeps idle connections 5 s, uvicorn's timer, so the two raced. Here a
raw-socket server counts the connections each driver opens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from redtrust_middleware._http import IDLE_REUSE_SECONDS, make_async_client, make_client
from redtrust_middleware.config import RedtrustConfig

pytestmark = pytest.mark.anyio

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
#: The shortest idle timeout among common servers (gunicorn's default keep-alive).
SHORTEST_SERVER_IDLE_TIMEOUT = 2.0


class CountingServer:
    """HTTP/1.1 on a loopback port, keeping every connection open; counts connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while chunk := conn.recv(65536):
                buffer += chunk
                while b"\r\n\r\n" in buffer:  # requests without a body (GET)
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    running = CountingServer()
    yield running
    running.close()


def config(url: str) -> RedtrustConfig:
    return RedtrustConfig(
        server_url=url, partner="CA_DEMO", shared_secret="s" * 32, verify_tls=False
    )


def idle_past_reuse() -> None:
    """Leave the pooled connection idle past the reuse limit (and no longer than needed)."""
    until = time.monotonic() + IDLE_REUSE_SECONDS + 0.1
    while (left := until - time.monotonic()) > 0:
        time.sleep(left)


def test_the_reuse_limit_is_under_every_common_server_idle_timeout() -> None:
    assert IDLE_REUSE_SECONDS < SHORTEST_SERVER_IDLE_TIMEOUT / 1.5


def test_sync_pool_reuses_busy_connections_and_drops_idle_ones(server: CountingServer) -> None:
    with make_client(config(server.url)) as client:
        assert client.get(server.url + "/a").status_code == 200
        assert client.get(server.url + "/b").status_code == 200
        assert server.connections == 1  # back to back: the same connection
        idle_past_reuse()
        assert client.get(server.url + "/c").status_code == 200
        assert server.connections == 2  # idle too long: a new one, never the old one


async def test_async_pool_reuses_busy_connections_and_drops_idle_ones(
    server: CountingServer,
) -> None:
    async with make_async_client(config(server.url)) as client:
        assert (await client.get(server.url + "/a")).status_code == 200
        assert (await client.get(server.url + "/b")).status_code == 200
        assert server.connections == 1
        idle_past_reuse()  # blocks the loop, which has nothing else to do
        assert (await client.get(server.url + "/c")).status_code == 200
        assert server.connections == 2
