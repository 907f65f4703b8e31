"""Helpers for testing your own app against the sandbox; they import without pytest.

The pytest fixtures (``redtrust_sandbox``, ``redtrust_config``, ``redis_server``) live in
:mod:`redtrust_middleware.pytest_plugin`, which pytest loads by itself once the package is
installed (a ``pytest11`` entry point), so a test just asks for them::

    def test_certificates_page(redtrust_sandbox, redtrust_config):
        client = Client(redtrust_config, transport=redtrust_sandbox.transport())
        tokens = client.exchange(redtrust_sandbox.issue_temp_token("alice"))
        ...

Everything runs in-process (no socket): the sandbox answers through ``httpx2`` mock
transports. Use :func:`redtrust_middleware.sandbox.running` for a real socket.

To sign a test client in as a user, through the app's real login route, the sandbox's login
page and the app's callback (no forged session)::

    app = create_app(config, manager=make_async_manager(sandbox, config))
    with TestClient(app, base_url=TEST_APP_URL) as client:
        sign_in(client, sandbox, "alice")
        assert client.get("/me").status_code == 200
        expire_access_token(sandbox)    # with make_sandbox(clock=FakeClock()): the next
        client.get("/me")               # request refreshes the token
        sign_out(client)

:func:`sign_in` and :func:`sign_out` take Starlette's and FastAPI's ``TestClient`` (an
``httpx2.Client``), :func:`asign_in` and :func:`asign_out` an ``httpx2.AsyncClient``; Flask's
and Django's test clients have the same helpers in ``redtrust_flask.testing`` and
``redtrust_django.testing``.

For a shared store, the ``redis_server`` fixture starts a throwaway ``redis-server`` (the
system binary) on a free loopback port; without the binary the test skips, or fails in strict
mode (``CI=true`` or ``REDTRUST_STRICT_TESTS=1``), so a CI run cannot pass by skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from types import TracebackType

from ._clock import Clock, system_clock
from ._testflow import (
    asign_in,
    asign_out,
    expire_access_token,
    sandbox_callback,
    sign_in,
    sign_out,
)
from .client import AsyncClient, Client
from .config import RedtrustConfig
from .sandbox import Sandbox, SandboxConfig
from .session import AsyncSessionManager, SessionManager

__all__ = [
    "TESTSERVER_URL",
    "TEST_APP_URL",
    "TEST_PARTNER",
    "TEST_SECRET",
    "TEST_SERVER_URL",
    "TEST_USERS",
    "FakeClock",
    "RedisServer",
    "asign_in",
    "asign_out",
    "expire_access_token",
    "make_async_manager",
    "make_config",
    "make_manager",
    "make_sandbox",
    "require_system",
    "sandbox_callback",
    "sign_in",
    "sign_out",
    "strict_tests",
]

TEST_PARTNER = "CA_TEST"
TEST_SECRET = "redtrust-testing-secret-0123456789"
TEST_APP_URL = "https://app.test"
TEST_USERS = {"alice": "alice-password", "bob": "bob-password"}
#: The default host of Django's and Starlette's test clients, over https: the sandbox of
#: :func:`make_sandbox` sends users back there too, so a site whose ``public_url`` it is can be
#: signed in with the test client as it comes (``redtrust_django.testing.sandbox_settings``).
TESTSERVER_URL = "https://testserver"
#: The server URL used in tests; nothing listens there, the mock transport answers.
TEST_SERVER_URL = "https://redtrust.test"


class FakeClock:
    """A clock that moves only when told to; pass it to the sandbox and the library alike."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative value)."""
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` stand-in that lets the time pass instantly."""
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """An ``anyio.sleep`` stand-in that lets the time pass instantly."""
        self.advance(seconds)


def make_sandbox(
    *,
    clock: Clock = system_clock,
    access_token_ttl: int = 300,
    users: Mapping[str, str] | None = None,
) -> Sandbox:
    """A sandbox that knows :data:`TEST_PARTNER`, :data:`TEST_USERS` (or ``users``: user
    name, the token's subject, to password) and sends users back to :data:`TEST_APP_URL`
    or :data:`TESTSERVER_URL`."""
    return Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS if users is None else users,
            redirect_prefixes=(TEST_APP_URL + "/", TESTSERVER_URL + "/"),
            access_token_ttl=access_token_ttl,
        ),
        clock=clock,
    )


def make_config(**overrides: object) -> RedtrustConfig:
    """A config matching :func:`make_sandbox` (keywords override any field)."""
    values: dict[str, object] = {
        "server_url": TEST_SERVER_URL,
        "partner": TEST_PARTNER,
        "shared_secret": TEST_SECRET,
        "public_url": TEST_APP_URL,
        "encryption_keys": ("redtrust-testing-encryption-key-0123456789",),
    }
    values.update(overrides)
    return RedtrustConfig(**values)  # type: ignore[arg-type]


def make_manager(sandbox: Sandbox, config: RedtrustConfig | None = None) -> SessionManager:
    """A session manager for a WSGI app (``RedtrustWSGIMiddleware``, Flask) that talks to
    ``sandbox`` in-process and runs on its clock (so :func:`expire_access_token` reaches the
    app); ``config`` defaults to :func:`make_config`. Sessions live in memory."""
    config = config if config is not None else make_config()
    client = Client(config, transport=sandbox.transport(), clock=sandbox.clock)
    return SessionManager(config, client=client, clock=sandbox.clock)


def make_async_manager(
    sandbox: Sandbox, config: RedtrustConfig | None = None
) -> AsyncSessionManager:
    """:func:`make_manager` for an ASGI app (``RedtrustMiddleware``'s ``manager=``)."""
    config = config if config is not None else make_config()
    client = AsyncClient(config, transport=sandbox.async_transport(), clock=sandbox.clock)
    return AsyncSessionManager(config, client=client, clock=sandbox.clock)


# -- system dependencies and strict mode ------------------------------------------------------


def strict_tests() -> bool:
    """True when a missing system dependency must fail a test instead of skipping it.

    Strict mode is on with ``CI=true`` or ``REDTRUST_STRICT_TESTS=1``.
    """
    return (
        os.environ.get("CI", "").strip().lower() == "true"
        or os.environ.get("REDTRUST_STRICT_TESTS", "").strip() == "1"
    )


def require_system(available: bool, reason: str) -> None:
    """Skip (or, in strict mode, fail) the current test when ``available`` is false."""
    if available:
        return
    import pytest  # here, so that the module imports without pytest

    if strict_tests():
        pytest.fail(f"{reason} (required because CI=true or REDTRUST_STRICT_TESTS=1)")
    pytest.skip(reason)


# -- a real Redis -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` on a loopback port: no persistence, no password.

    Use it as a context manager; :meth:`stop` and :meth:`start` (same port) play an outage,
    :meth:`kill` a crash. ``url`` is what :class:`~redtrust_middleware.stores.RedisStore`
    takes.
    """

    def __init__(
        self,
        *,
        executable: str = "redis-server",
        port: int | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise FileNotFoundError(f"{executable} not found (apt-get install -y redis-server)")
        self.executable = found
        self.port = port if port is not None else _free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="redtrust-redis-")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self.running})"

    def start(self) -> None:
        """Start the server and wait until it answers ``PING``."""
        if self.running:
            return
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",  # no snapshots and no append-only file: nothing outlives the test
            "appendonly": "no",
            "dir": self._workdir.name,
            "daemonize": "no",
            "loglevel": "warning",
        }
        argv = [self.executable]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self._process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not self.ping():
            if self._process.poll() is not None:
                error = self._process.stderr.read() if self._process.stderr else b""
                self._process = None
                raise RuntimeError(f"redis-server exited: {error.decode(errors='replace')}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer within {self.startup_timeout} s")
            time.sleep(0.01)  # polling with a deadline, not waiting a fixed time

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the server answers ``PING`` (checked over a raw socket)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would, and reap it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self.stop()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._workdir.cleanup()
