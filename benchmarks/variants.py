"""The apps under test, shared by the in-process run and the uvicorn server.

Five variants of one Starlette endpoint (``GET /`` answering ``ok``):

* ``bare``: the endpoint alone.
* ``session``: behind Starlette's own ``SessionMiddleware``, with a realistic signed-in
  cookie (a signed JSON session holding a user id, name and CSRF token).
* ``redtrust``: behind :class:`redtrust_starlette.RedtrustMiddleware`, with the cookie of a
  signed-in session whose access token is fresh (no refresh during the run).
* ``redtrust-nocookie``: the same middleware, the request carrying no session cookie.
* ``floor``: :class:`FloorMiddleware`, the least any middleware that reads a session cookie
  does on a signed-in request (find the cookie, publish a value in the scope and in
  ``request.state``, add ``Vary: Cookie``) with no session behind it: a reference for how
  close ours comes to that minimum, not a middleware to use.

Every request carries the same other headers, including an unrelated ``theme`` cookie, so
the variants differ only by their middleware and their session cookie.
"""

from __future__ import annotations

import json
from base64 import b64encode
from collections import Counter
from collections.abc import Awaitable, Callable

try:
    from itsdangerous import TimestampSigner
except ImportError as missing:  # Starlette's SessionMiddleware needs it too
    raise SystemExit(
        "the benchmark needs itsdangerous (for SessionMiddleware): pip install itsdangerous"
    ) from missing
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from redtrust_middleware.client import AsyncClient
from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.session import AsyncSessionManager
from redtrust_middleware.stores import LocalValue, MemoryStore
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS, make_config
from redtrust_middleware.web import Gate
from redtrust_starlette import RedtrustMiddleware

__all__ = [
    "OTHER_COOKIE",
    "SESSION_SECRET",
    "VARIANTS",
    "CountingStore",
    "FloorMiddleware",
    "RedtrustSetup",
    "bare_app",
    "session_cookie",
    "with_floor",
    "with_session",
]

#: The variants, in the order they are shown.
VARIANTS = ("bare", "session", "floor", "redtrust", "redtrust-nocookie")
#: A cookie unrelated to any session, sent by every variant (browsers send such cookies).
OTHER_COOKIE = "theme=dark"
#: The ``SessionMiddleware`` signing key.
SESSION_SECRET = "benchmark-session-secret-0123456789abcdef"
#: A long-lived access token: the run never needs a refresh.
ACCESS_TOKEN_TTL = 3600


async def home(request: Request) -> Response:
    """The endpoint every variant serves; it reads neither session."""
    return PlainTextResponse("ok")


def bare_app(lifespan: Lifespan[Starlette] | None = None) -> Starlette:
    """The bare Starlette app (a fresh instance each call)."""
    return Starlette(routes=[Route("/", home)], lifespan=lifespan)


# -- Starlette's SessionMiddleware ------------------------------------------------------------


def session_cookie() -> str:
    """A ``session=`` cookie as ``SessionMiddleware`` itself writes one for a signed-in user."""
    data = {
        "user_id": 4217,
        "username": "alice",
        "display_name": "Alice Example",
        "csrf_token": "Vh3k2dJq0aLr8n1XwQeYtUuI9oPzMbNc",
        "login_at": 1_800_000_000,
    }
    signed = TimestampSigner(SESSION_SECRET).sign(b64encode(json.dumps(data).encode("utf-8")))
    return f"session={signed.decode('utf-8')}"


def with_session(app: ASGIApp) -> ASGIApp:
    """``app`` behind ``SessionMiddleware`` (default options)."""
    return SessionMiddleware(app, secret_key=SESSION_SECRET)


# -- the floor --------------------------------------------------------------------------------

#: Where :class:`FloorMiddleware` publishes the cookie it found.
FLOOR_KEY = "floor.cookie"
_VARY_COOKIE = [(b"vary", b"Cookie")]


class FloorMiddleware:
    """What every request costs a middleware that reads a session cookie, and nothing more:
    the ``Cookie`` header found, one value put in the scope and in ``request.state`` (a new
    dict, as ours), and ``Vary: Cookie`` added to the response (a new message and header
    list, as ours). It reads no session; the figure is a floor for the benchmark, no more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = None
        for name, value in scope["headers"]:  # as ours: several Cookie headers joined
            if name == b"cookie":
                cookie = value if cookie is None else b"%s; %s" % (cookie, value)
        scope[FLOOR_KEY] = cookie
        state = scope.get("state")
        scope["state"] = {**state, "floor": cookie} if state else {"floor": cookie}

        def send_with_vary(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                message = {
                    **message,
                    "headers": headers + _VARY_COOKIE
                    if type(headers) is list
                    else [*headers, *_VARY_COOKIE],
                }
            return send(message)

        await self.app(scope, receive, send_with_vary)


def with_floor(app: ASGIApp) -> ASGIApp:
    """``app`` behind :class:`FloorMiddleware`."""
    return FloorMiddleware(app)


# -- ours -------------------------------------------------------------------------------------


class CountingStore:
    """An :class:`~redtrust_middleware.stores.AsyncStore` counting every call it passes on."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def total(self) -> int:
        """All calls so far."""
        return sum(self.calls.values())

    def read_local(self, key: str) -> LocalValue:
        # Passed on, so the manager's local fast path runs here as on a plain MemoryStore.
        self.calls["read_local"] += 1
        return self.inner.read_local(key)

    async def aget(self, key: str) -> bytes | None:
        self.calls["aget"] += 1
        return await self.inner.aget(key)

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        self.calls["aset"] += 1
        await self.inner.aset(key, value, ttl=ttl)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        self.calls["aadd"] += 1
        return await self.inner.aadd(key, value, ttl=ttl)

    async def atake(self, key: str) -> bytes | None:
        self.calls["atake"] += 1
        return await self.inner.atake(key)

    async def adelete(self, key: str) -> None:
        self.calls["adelete"] += 1
        await self.inner.adelete(key)

    async def adelete_if(self, key: str, value: bytes) -> bool:
        self.calls["adelete_if"] += 1
        return await self.inner.adelete_if(key, value)

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        self.calls["areplace_if"] += 1
        return await self.inner.areplace_if(key, expected, value, ttl=ttl)


class RedtrustSetup:
    """Our middleware's session manager, and a signed-in session once :meth:`sign_in` ran.

    Built without I/O (so an app factory can build the middleware at once); the sign-in
    itself goes through the in-process sandbox, as the callback route would.
    ``max_entries`` sizes the :class:`~redtrust_middleware.stores.MemoryStore` (for many
    sessions).
    """

    def __init__(
        self,
        public_url: str = "https://app.test",
        *,
        max_entries: int | None = None,
    ) -> None:
        self.config: RedtrustConfig = make_config(public_url=public_url)
        self.sandbox = Sandbox(
            SandboxConfig(
                partners={TEST_PARTNER: TEST_SECRET},
                users=TEST_USERS,
                redirect_prefixes=(public_url + "/",),
                access_token_ttl=ACCESS_TOKEN_TTL,
            )
        )
        self.memory = MemoryStore() if max_entries is None else MemoryStore(max_entries=max_entries)
        self.client = AsyncClient(self.config, transport=self.sandbox.async_transport())
        self.manager = AsyncSessionManager(self.config, store=self.memory, client=self.client)
        self.cookie_name = Gate(self.config).session_cookie
        self.handle: str | None = None

    async def sign_in(self, username: str = "alice") -> str:
        """Sign ``username`` in; the ``name=value`` cookie pair the browser then sends."""
        start = await self.manager.begin_login(next_url="/", callback_url=self.config.redirect_url)
        done = await self.manager.complete_login(
            query=f"state={start.browser_nonces[-1]}&tkn={self.sandbox.issue_temp_token(username)}",
            browser_nonces=start.browser_nonces,
        )
        self.handle = done.handle
        return self.cookie

    async def sign_in_many(
        self, count: int, progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """Sign ``count`` sessions in (``alice`` each time); their cookie pairs, in order.

        ``progress`` is called with the number done every tenth of the way.
        """
        cookies = []
        step = max(1, count // 10)
        for index in range(count):
            cookies.append(await self.sign_in())
            if progress is not None and (index + 1) % step == 0:
                progress(index + 1)
        return cookies

    @property
    def cookie(self) -> str:
        """The ``name=value`` pair the browser sends."""
        if self.handle is None:
            raise RuntimeError("sign_in() first")
        return f"{self.cookie_name}={self.handle}"

    def counting_manager(self) -> tuple[AsyncSessionManager, CountingStore]:
        """A second manager over the same sessions whose store calls are counted."""
        counting = CountingStore(self.memory)
        return AsyncSessionManager(self.config, store=counting, client=self.client), counting

    def wrap(self, app: ASGIApp, manager: AsyncSessionManager | None = None) -> ASGIApp:
        """``app`` behind our middleware, sharing this session manager (or ``manager``)."""
        return RedtrustMiddleware(
            app, config=self.config, manager=manager if manager is not None else self.manager
        )

    def refresh_calls(self) -> int:
        """Refreshes the sandbox has answered (must stay 0: the token is fresh)."""
        return self.sandbox.calls["refresh"]
