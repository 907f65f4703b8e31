"""Serving a :class:`Sandbox` over real sockets with uvicorn.

uvicorn is an optional dependency (``pip install 'redtrust-middleware[sandbox]'``), imported
only when one of these functions runs. Its access log is off (URLs carry signatures and
tokens); the sandbox logs its own line per request, without the query string. The HTTP
protocol is uvicorn's h11 one whatever else is installed, so that ``drop_next`` closes a
connection the same way everywhere (see :mod:`._asgi`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ._sandbox import Sandbox

__all__ = ["PortUnavailable", "listening_socket", "running", "serve"]

_INSTALL_HINT = "the sandbox server needs uvicorn: pip install 'redtrust-middleware[sandbox]'"


def _uvicorn_server(sandbox: Sandbox, host: str, port: int) -> Any:
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - uvicorn is a dev dependency
        raise ImportError(_INSTALL_HINT) from exc
    config = uvicorn.Config(
        sandbox.asgi_app,
        host=host,
        port=port,
        interface="asgi3",
        http="h11",
        lifespan="on",
        access_log=False,
        log_config=None,  # leave the application's logging alone
        proxy_headers=False,
        server_header=False,
        date_header=False,  # the sandbox dates its answers with its own clock
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class PortUnavailable(OSError):
    """A port the sandbox cannot listen on (in use, or not allowed); names ``host:port``."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return f"cannot listen on {self.host}:{self.port} ({self.strerror})"


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: a free one), ready for uvicorn.

    Raises:
        PortUnavailable: the port cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise PortUnavailable(host, port, error) from None
    return sock


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int | Sequence[int] = 8083) -> None:
    """Serve ``sandbox`` on ``http://host:port`` until interrupted (blocking); ``port`` may be
    several ports, all served by the one sandbox (``redtrust sandbox`` serves 8083 and 8082).

    Every port is bound before anything is served, so a port in use stops it at once.

    Raises:
        PortUnavailable: a port cannot be bound.
    """
    ports = [port] if isinstance(port, int) else list(dict.fromkeys(port))
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(contextlib.closing(listening_socket(host, number)))
            for number in ports
        ]
        _uvicorn_server(sandbox, host, ports[0]).run(sockets=sockets)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def running(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0
) -> Iterator[str]:
    """Serve ``sandbox`` in a background thread; yield its base URL (``http://host:port``).

    ``port=0`` picks a free port. The URL is yielded once the server really accepts
    connections (uvicorn's ``started`` flag, polled up to ``timeout`` seconds); the server is
    shut down and the thread joined on exit.

    Raises:
        RuntimeError: the server stopped or did not start within ``timeout``.
    """
    sock = listening_socket(host, port)
    try:
        bound_port = sock.getsockname()[1]
        server = _uvicorn_server(sandbox, host, bound_port)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="redtrust-sandbox", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + timeout
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the sandbox server stopped during start-up")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox server did not start within {timeout} s")
                time.sleep(0.005)
            yield f"http://{_url_host(host)}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout)
    finally:
        sock.close()
