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
from dataclasses import fields
from types import TracebackType
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ._clock import Clock, system_clock
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


# -- signing a test client in: login route, sandbox page, callback -----------------------------
# The steps every face's helper shares (redtrust_flask.testing and redtrust_django.testing wrap
# them around their test clients), then the helpers of httpx2 clients: Starlette's and
# FastAPI's TestClient is an httpx2.Client once this package is installed, and
# httpx2.AsyncClient(transport=httpx2.ASGITransport(app)) drives any ASGI app. Nothing forges
# a session: the app's login route, the sandbox's page and the app's callback all run.

#: The route paths of an app that kept the defaults (a config given to a helper overrides them).
_DEFAULT_PATHS = {
    field.name: str(field.default)
    for field in fields(RedtrustConfig)
    if field.name in ("login_path", "logout_path")
}


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower case, as browsers send ``Origin``)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def sandbox_callback(
    sandbox: Sandbox, login_url: str, username: str = "alice", password: str | None = None
) -> str:
    """Sign ``username`` in on the sandbox's login page at ``login_url`` (where the app's login
    route sent the browser); the callback URL Redtrust sends the browser back to.

    ``password`` defaults to the sandbox's own password for ``username`` (its
    ``SandboxConfig.users``). Any subject works: give the sandbox that user
    (``make_sandbox(users={"carol": "pw"})``).

    Raises:
        ValueError: the sandbox has no such user (what to do instead), or its login page or
            sign-in refused (the status).
    """
    if password is None:
        known = sandbox.config.users.get(username)
        if known is None:
            users = ", ".join(sorted(sandbox.config.users)) or "none"
            raise ValueError(
                f"the sandbox has no user {username!r} (it knows: {users}): make one with "
                f"make_sandbox(users={{{username!r}: 'any-password'}}), or pass password= for "
                "a user it knows"
            )
        password = known
    return sandbox.sign_in(login_url, username, password)


def _login_location(status: int, location: str | None, text: str) -> str:
    """The sandbox login URL the app's login route answered with; raises when it did not."""
    if status != 302 or not location:
        raise AssertionError(f"the login route answered {status}: {text[:500]}")
    if "/loginrequest?" not in location:
        raise AssertionError(
            f"the login route sent the browser to {location}, not to the sandbox's login page: "
            "open the app at its public_url (the test client's base URL or host)"
        )
    return location


def _check_signed_in(status: int, text: str) -> None:
    """Raise when the callback's answer is not the 303 of a completed sign-in."""
    if status != 303:
        raise AssertionError(f"the callback answered {status}: {text[:500]}")


def expire_access_token(sandbox: Sandbox) -> float:
    """Let the signed-in users' access tokens expire: move the sandbox's fake clock (shared
    with the app) past their lifetime. The next request of a signed-in client refreshes its
    token; the refresh token is still valid. Returns the seconds the clock moved.

    Raises:
        TypeError: the sandbox does not run on a :class:`~redtrust_middleware.testing.FakeClock`.
    """
    advance = getattr(sandbox.clock, "advance", None)
    if not callable(advance):
        raise TypeError(
            "the sandbox runs on the real clock: make it with make_sandbox(clock=FakeClock()) "
            "(or use the redtrust_sandbox fixture) and give the app the same clock"
        )
    config = sandbox.config
    seconds = float(max(config.access_token_ttl, config.refreshed_access_token_ttl or 0) + 1)
    advance(seconds)
    return seconds


# -- httpx2 clients (Starlette's and FastAPI's TestClient, httpx2.AsyncClient) ---------------
# Described by what the helpers use of them, so that this module needs no HTTP library.


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...


R = TypeVar("R", bound=_Response)
R_co = TypeVar("R_co", bound=_Response, covariant=True)


class _HasBaseURL(Protocol):
    @property
    def base_url(self) -> object: ...


class _Client(_HasBaseURL, Protocol[R_co]):
    def get(self, url: str, *, params: Any = ..., follow_redirects: Any = ...) -> R_co: ...
    def post(
        self, url: str, *, params: Any = ..., headers: Any = ..., follow_redirects: Any = ...
    ) -> R_co: ...


class _AsyncClient(_HasBaseURL, Protocol[R_co]):
    async def get(self, url: str, *, params: Any = ..., follow_redirects: Any = ...) -> R_co: ...
    async def post(
        self, url: str, *, params: Any = ..., headers: Any = ..., follow_redirects: Any = ...
    ) -> R_co: ...


def _path(config: RedtrustConfig | None, name: str) -> str:
    return str(getattr(config, name)) if config is not None else _DEFAULT_PATHS[name]


def _check_base_url(client: _HasBaseURL, url: str, what: str) -> None:
    """The session cookie belongs to ``public_url``: the client must send its requests there."""
    base, wanted = _origin(str(client.base_url)), _origin(url)
    if base != wanted:
        raise RuntimeError(
            f"the test client sends its requests to {base}, but {what} {wanted}, where the "
            f"session cookie lives: make the client with base_url={wanted!r} (TestClient(app, "
            f"base_url={wanted!r}) or httpx2.AsyncClient(..., base_url={wanted!r}))"
        )


def _login_target(client: _HasBaseURL, config: RedtrustConfig | None) -> str:
    if config is not None and config.public_url is not None:
        _check_base_url(client, config.public_url, "public_url is")
    return _path(config, "login_path")


def _callback(
    client: _HasBaseURL,
    response: _Response,
    sandbox: Sandbox,
    username: str,
    password: str | None,
) -> str:
    location = _login_location(
        response.status_code, response.headers.get("location"), response.text
    )
    callback = sandbox_callback(sandbox, location, username, password)
    _check_base_url(client, callback, "Redtrust sends the browser back to")
    return callback


def sign_in(
    client: _Client[R],
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
    config: RedtrustConfig | None = None,
) -> R:
    """Sign ``client`` (Starlette's or FastAPI's ``TestClient``, any ``httpx2.Client``) in as
    ``username`` through the app's login route, the sandbox's login page and the app's
    callback; the callback's answer (a 303 to ``next_url``). The session cookie is then in
    the client.

    ``password`` defaults to the sandbox's password for ``username``; ``config`` is the app's
    (for its route paths and ``public_url``; default: the default paths).

    Raises:
        RuntimeError: the client's base URL is not ``public_url`` (where the session cookie
            lives), with the ``base_url=`` that fixes it.
        AssertionError: the sign-in did not go through (the answer's status and text).
        ValueError: the sandbox has no such user, or refused the credentials.
    """
    path = _login_target(client, config)
    start = client.get(path, params={"next": next_url}, follow_redirects=False)
    callback = _callback(client, start, sandbox, username, password)
    done = client.get(callback, follow_redirects=False)
    _check_signed_in(done.status_code, done.text)
    return done


async def asign_in(
    client: _AsyncClient[R],
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
    config: RedtrustConfig | None = None,
) -> R:
    """:func:`sign_in` for an ``httpx2.AsyncClient`` (e.g. over ``httpx2.ASGITransport``)."""
    path = _login_target(client, config)
    start = await client.get(path, params={"next": next_url}, follow_redirects=False)
    callback = _callback(client, start, sandbox, username, password)
    done = await client.get(callback, follow_redirects=False)
    _check_signed_in(done.status_code, done.text)
    return done


def _signout_request(
    client: _HasBaseURL, config: RedtrustConfig | None, next_url: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    if config is not None and config.public_url is not None:
        _check_base_url(client, config.public_url, "public_url is")
    # The Origin a browser sends from one of the site's own pages: the sign-out's proof.
    origin = {"origin": _origin(str(client.base_url))}
    return _path(config, "logout_path"), {"next": next_url}, origin


def _check_signed_out(response: R) -> R:
    if response.status_code != 303:
        raise AssertionError(f"the sign-out answered {response.status_code}: {response.text[:500]}")
    return response


def sign_out(client: _Client[R], *, next_url: str = "/", config: RedtrustConfig | None = None) -> R:
    """Sign ``client`` out as the site's own sign-out form does (a same-origin POST to the
    logout route); the answer (a 303 to ``next_url``). The session ends at Redtrust too
    (in the ``ra-api`` profile).

    Raises:
        RuntimeError: the client's base URL is not ``public_url``.
        AssertionError: the sign-out was refused (the answer's status and text).
    """
    path, params, headers = _signout_request(client, config, next_url)
    response = client.post(path, params=params, headers=headers, follow_redirects=False)
    return _check_signed_out(response)


async def asign_out(
    client: _AsyncClient[R], *, next_url: str = "/", config: RedtrustConfig | None = None
) -> R:
    """:func:`sign_out` for an ``httpx2.AsyncClient``."""
    path, params, headers = _signout_request(client, config, next_url)
    response = await client.post(path, params=params, headers=headers, follow_redirects=False)
    return _check_signed_out(response)


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
