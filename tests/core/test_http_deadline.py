"""A server that drips its answer is cut off by the per-attempt deadline (THREATS 40, F8).

httpx's own timeouts bound each read; one byte every 50 ms never trips them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from redtrust_middleware import AsyncClient, Client, RedtrustConfig, UpstreamTimeout

pytestmark = pytest.mark.network


@pytest.fixture
def dripping_server() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                head = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 400\r\n\r\n"
                )
                try:
                    conn.sendall(head)
                    for _ in range(400):  # bounded: 20 s at most, far past any deadline
                        if stop.wait(0.05):
                            return
                        conn.sendall(b" ")
                except OSError:
                    continue  # the client hung up, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    host, port = listener.getsockname()[:2]
    yield f"http://{host}:{port}"
    stop.set()
    listener.close()
    thread.join(timeout=5)


def _config(url: str) -> RedtrustConfig:
    return RedtrustConfig(
        server_url=url, partner="CA_DEMO", shared_secret="s" * 32, timeout=0.5, connect_retries=0
    )


def test_sync_client_gives_up_at_the_deadline(dripping_server: str) -> None:
    with Client(_config(dripping_server)) as client, pytest.raises(UpstreamTimeout):
        client.login("demo", "demo")


@pytest.mark.anyio
async def test_async_client_gives_up_at_the_deadline(dripping_server: str) -> None:
    async with AsyncClient(_config(dripping_server)) as client:
        with pytest.raises(UpstreamTimeout):
            await client.login("demo", "demo")
