"""``redtrust demo``: the sandbox and the demo app (:mod:`.demoapp`), served together on localhost.

Both run in one process, each on its own uvicorn server in a thread; the main thread waits
for ``Ctrl-C`` (or SIGTERM) and stops both. What the demo prints: the URL to open, the demo
credentials, one short line per request to the app and to the sandbox (method, path and
status; never a query string, which carries signatures and tokens), and one line each time a
user signs in or a token is refreshed (who, and until when the new token is valid; never a
token). Demo access tokens live 60 s and are refreshed on the first request in their last
:data:`REFRESH_LEEWAY` seconds.

Both ship with the package: ``pip install "redtrust-middleware[sandbox]"`` (which adds uvicorn)
is all the demo needs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..asgi import ASGIApp, Message, Receive, Scope, Send
from ..client import AsyncClient
from ..config import RedtrustConfig
from ..exceptions import RedtrustError
from ..sandbox import Sandbox, SandboxConfig, printable
from ..sandbox.server import PortUnavailable, listening_socket
from ..session import AsyncSessionManager
from ..tokens import TokenSet
from .demoapp import create_app

__all__ = [
    "ACCESS_TOKEN_TTL",
    "DEMO_PARTNER",
    "DEMO_SECRET",
    "DEMO_USER",
    "REFRESH_LEEWAY",
    "DemoError",
    "DemoServers",
    "main",
    "started",
]

DEMO_PARTNER = "CA_DEMO"
DEMO_SECRET = "sandbox-demo-secret-0123456789abcdef"  # public, for local demos only
DEMO_USER = ("demo", "demo")
#: Lifetime of a demo access token, seconds.
ACCESS_TOKEN_TTL = 60
#: A token is refreshed on the first request once it expires within this many seconds.
REFRESH_LEEWAY = 30.0

Say = Callable[[str], None]


class DemoError(RedtrustError):
    """The demo cannot start (a port is busy, uvicorn is missing...)."""


def _print(text: str, stream: str = "stdout") -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    out.write(text + "\n")
    out.flush()


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _local_time(tokens: TokenSet) -> str:
    return tokens.expires_at.astimezone().strftime("%H:%M:%S")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _ReportingClient(AsyncClient):
    """The app's Redtrust client, telling the console about each sign-in and refresh."""

    def __init__(self, config: RedtrustConfig, say: Say) -> None:
        super().__init__(config)
        self._say = say

    async def exchange(self, temp_token: str) -> TokenSet:
        tokens = await super().exchange(temp_token)
        self._say(
            f"{_clock()}  signed in as {tokens.subject or '?'}; "
            f"access token valid until {_local_time(tokens)}"
        )
        return tokens

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        new = await super().refresh(tokens)
        self._say(
            f"{_clock()}  token refreshed for {new.subject or '?'}; "
            f"new access token valid until {_local_time(new)}"
        )
        return new


class _Console:
    """ASGI wrapper: a line per HTTP request (no query string); closes the manager at the end."""

    def __init__(self, app: ASGIApp, manager: AsyncSessionManager, say: Say) -> None:
        self._app = app
        self._manager = manager
        self._say = say

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":

            async def closing_send(message: Message) -> None:
                if message["type"] == "lifespan.shutdown.complete":
                    await self._manager.aclose()
                await send(message)

            await self._app(scope, receive, closing_send)
            return
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status: list[int] = []

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, watching_send)
        finally:
            code = str(status[0]) if status else "-"
            method = printable(scope["method"], 16)
            self._say(f"{_clock()}  app      {method} {printable(scope['path'])} {code}")


class _SandboxLines(logging.Handler):
    """Turns the sandbox's request log records into console lines."""

    def __init__(self, say: Say) -> None:
        super().__init__(logging.INFO)
        self._say = say

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO:
            self._say(f"{_clock()}  sandbox  {record.getMessage()}")


@contextlib.contextmanager
def _sandbox_lines(say: Say) -> Iterator[None]:
    logger = logging.getLogger("redtrust_middleware.sandbox")
    handler, level, propagate = _SandboxLines(say), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _bind(host: str, port: int, option: str) -> socket.socket:
    try:
        return listening_socket(host, port)
    except PortUnavailable as error:
        raise DemoError(
            f"cannot listen on {host}:{port} ({error.strerror}); is another demo running? "
            f"choose another port with {option}"
        ) from None


@contextlib.contextmanager
def _serving(
    app: ASGIApp, sock: socket.socket, name: str, timeout: float
) -> Iterator[threading.Thread]:
    """Serve ``app`` with uvicorn on ``sock`` in a thread until the block ends."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - the sandbox extra brings uvicorn
        raise DemoError(
            "the demo needs uvicorn: pip install 'redtrust-middleware[sandbox]'"
        ) from None

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="on",
            interface="asgi3",
            access_log=False,  # URLs carry tkn and hmac: the lines printed omit the query
            log_config=None,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"redtrust-demo-{name}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise DemoError(f"the demo {name} stopped during start-up")
            if time.monotonic() > deadline:
                raise DemoError(f"the demo {name} did not start within {timeout} s")
            time.sleep(0.005)
        yield thread
    finally:
        server.should_exit = True
        thread.join(timeout)


@dataclass(frozen=True, slots=True)
class DemoServers:
    """The running demo: where things are, and the sandbox itself (for tests)."""

    app_url: str
    sandbox_url: str
    sandbox: Sandbox
    _threads: tuple[threading.Thread, ...]

    def alive(self) -> bool:
        """True while both servers run."""
        return all(thread.is_alive() for thread in self._threads)


@contextlib.contextmanager
def started(
    host: str = "127.0.0.1",
    app_port: int = 8000,
    sandbox_port: int = 8083,
    *,
    say: Say = _print,
    access_token_ttl: int = ACCESS_TOKEN_TTL,
    refresh_leeway: float = REFRESH_LEEWAY,
    timeout: float = 10.0,
) -> Iterator[DemoServers]:
    """Start the sandbox and the demo app (port 0: any free port); stop both on exit.

    ``say`` receives every console line; ``access_token_ttl`` and ``refresh_leeway`` (seconds)
    let a test see a refresh sooner.

    Raises:
        DemoError: a port is busy, or a server did not start.
        ConfigurationError: ``host`` is not a loopback address.
    """
    with contextlib.ExitStack() as stack:
        app_sock = stack.enter_context(contextlib.closing(_bind(host, app_port, "--app-port")))
        sandbox_sock = stack.enter_context(
            contextlib.closing(_bind(host, sandbox_port, "--sandbox-port"))
        )
        app_url = f"http://{_url_host(host)}:{app_sock.getsockname()[1]}"
        sandbox_url = f"http://{_url_host(host)}:{sandbox_sock.getsockname()[1]}"
        config = RedtrustConfig(
            server_url=sandbox_url,
            partner=DEMO_PARTNER,
            shared_secret=DEMO_SECRET,
            public_url=app_url,
            refresh_leeway=refresh_leeway,
        )
        sandbox = Sandbox(
            SandboxConfig(
                partners={DEMO_PARTNER: DEMO_SECRET},
                users=dict([DEMO_USER]),
                redirect_prefixes=(app_url + "/",),
                access_token_ttl=access_token_ttl,
            )
        )
        manager = AsyncSessionManager(config, client=_ReportingClient(config, say))
        app = _Console(create_app(config, manager=manager), manager, say)
        stack.enter_context(_sandbox_lines(say))
        threads = (
            stack.enter_context(_serving(sandbox.asgi_app, sandbox_sock, "sandbox", timeout)),
            stack.enter_context(_serving(app, app_sock, "app", timeout)),
        )
        yield DemoServers(app_url, sandbox_url, sandbox, threads)


def _banner(demo: DemoServers) -> str:
    user, password = DEMO_USER
    return f"""Redtrust web demo: the sandbox and a demo app

  open      {demo.app_url}/me
  sign in   user {user!r}, password {password!r} (on the sandbox page you are sent to)
  sandbox   {demo.sandbox_url} (partner {DEMO_PARTNER}, the public demo secret)

Access tokens live {ACCESS_TOKEN_TTL} s and are refreshed on the first request in their last \
{REFRESH_LEEWAY:.0f} s:
reload the page after half a minute and a "token refreshed" line appears here.
Sign out with the button on the page. Ctrl-C stops both servers.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``redtrust demo``."""
    parser = argparse.ArgumentParser(
        prog="redtrust demo",
        description="Run the sandbox and a demo app together on localhost.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default: %(default)s)"
    )
    parser.add_argument(
        "--app-port", type=int, default=8000, help="app port (default: %(default)s)"
    )
    parser.add_argument(
        "--sandbox-port", type=int, default=8083, help="sandbox port (default: %(default)s)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C or SIGTERM; the exit status."""
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with started(args.host, args.app_port, args.sandbox_port) as demo:
            _print(_banner(demo))
            while not stop.wait(0.5):
                if not demo.alive():
                    _print("redtrust demo: a server stopped unexpectedly", "stderr")
                    return 1
            _print("\nstopping...")
    except DemoError as error:
        _print(f"redtrust demo: {error}", "stderr")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print("stopped")
    return 0
