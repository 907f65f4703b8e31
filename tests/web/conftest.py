"""An app behind the middleware, the sandbox behind the app, and a browser between them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx2
import pytest
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from examples.starlette_app import create_app
from examples.wsgi_app import create_app as create_wsgi_app

from redtrust_middleware import (
    ActiveSession,
    AsyncClient,
    AsyncSessionManager,
    AsyncStore,
    Client,
    Hooks,
    MemoryStore,
    RedtrustConfig,
    SessionManager,
)
from redtrust_middleware.cli.demoapp import create_app as create_demo_app
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_USERS,
    FakeClock,
    make_config,
    make_sandbox,
)


class AsyncWSGITransport(httpx2.AsyncBaseTransport):
    """An async browser's transport to a WSGI app: each request runs the app in a worker
    thread (as a threaded server such as gunicorn ``gthread`` does), so concurrent requests
    meet in the app's threads."""

    def __init__(self, app: Any) -> None:
        self._wsgi = httpx2.WSGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()

        def call() -> httpx2.Response:
            answer = self._wsgi.handle_request(request)
            return httpx2.Response(
                answer.status_code, headers=answer.headers, content=answer.read()
            )

        return await anyio.to_thread.run_sync(call)


@dataclass
class AwaitableManager:
    """A sync :class:`SessionManager` seen as the suites see an async one (``await get``)."""

    sync: SessionManager

    @property
    def client(self) -> Client:
        return self.sync.client

    @property
    def store(self) -> Any:
        return self.sync.store

    async def get(self, handle: str | None) -> ActiveSession | None:
        return self.sync.get(handle)


@dataclass
class Site:
    """An example app wired to an in-process sandbox, and a cookie-keeping browser."""

    sandbox: Sandbox
    clock: FakeClock
    config: RedtrustConfig
    manager: AsyncSessionManager | AwaitableManager
    browser: httpx2.AsyncClient

    async def follow_to_redtrust(self, response: httpx2.Response) -> str:
        """From the app's login redirect, sign in on the sandbox page; the callback URL."""
        assert response.status_code == 302, response.text
        return self.sandbox.sign_in(response.headers["location"], "alice", TEST_USERS["alice"])

    async def start(self, next_url: str = "/me") -> str:
        """Start a login and sign in on the sandbox; the callback URL (not yet visited)."""
        start = await self.browser.get("/redtrust/login", params={"next": next_url})
        callback = await self.follow_to_redtrust(start)
        assert callback.startswith(TEST_APP_URL)
        return path_of(callback)

    async def sign_in(self, next_url: str = "/me") -> httpx2.Response:
        """The whole browser flow; the response of the callback (a 303 to ``next``)."""
        return await self.browser.get(await self.start(next_url))

    def session_cookie(self) -> str | None:
        return self.browser.cookies.get("__Host-redtrust_session")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def make_site(
    app_factory: Callable[..., Any] = create_app,
    *,
    store: AsyncStore | Callable[[FakeClock], AsyncStore] | None = None,
    with_clock: bool = False,
    hooks: Hooks | None = None,
    **config_options: Any,
) -> tuple[Site, Any]:
    """A site of the app ``app_factory`` builds; ``with_clock`` also gives the app the fake
    clock (the example pages measure "in 4 min" from it). ``store`` may be a function of the
    site's clock, for a store on the same clock."""
    clock = FakeClock()
    if callable(store):
        store = store(clock)
    sandbox = make_sandbox(clock=clock)
    config = make_config(**config_options)
    clocked = {"clock": clock} if with_clock else {}
    store = store if store is not None else MemoryStore(clock=clock)
    manager: AsyncSessionManager | AwaitableManager
    transport: httpx2.AsyncBaseTransport
    if app_factory in WSGI_FACTORIES:
        sync_client = Client(config, transport=sandbox.transport(), clock=clock)
        sync = SessionManager(config, store=store, client=sync_client, clock=clock, hooks=hooks)  # type: ignore[arg-type]
        app = app_factory(config, manager=sync, **clocked)
        manager, transport = AwaitableManager(sync), AsyncWSGITransport(app)
    else:
        client = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
        manager = AsyncSessionManager(config, store=store, client=client, clock=clock, hooks=hooks)
        app = app_factory(config, manager=manager, **clocked)
        transport = httpx2.ASGITransport(app=app)
    browser = httpx2.AsyncClient(transport=transport, base_url=TEST_APP_URL)
    return Site(sandbox=sandbox, clock=clock, config=config, manager=manager, browser=browser), app


#: The examples, and the app ``redtrust demo`` ships (the same pages on the bare ASGI
#: middleware); "wsgi" is the same pages on the bare WSGI middleware.
APPS: dict[str, Callable[..., Any]] = {
    "starlette": create_app,
    "fastapi": create_fastapi_app,
    "flask": create_flask_app,
    "demo": create_demo_app,
    "wsgi": create_wsgi_app,
}
#: The factories of WSGI apps: :func:`make_site` gives them a sync session manager.
WSGI_FACTORIES: tuple[Callable[..., Any], ...] = (create_wsgi_app, create_flask_app)


@pytest.fixture(params=sorted(APPS))
async def site(request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    built, _ = make_site(APPS[request.param])
    async with built.browser:
        yield built


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


#: Callbacks mangled from a good one: each must be a 400 that changes nothing.
BAD_CALLBACKS: dict[str, Callable[[str], str]] = {
    "TKN": lambda q: q.replace("tkn=", "TKN="),
    "empty": lambda q: q.split("&tkn=")[0] + "&tkn=",
    "missing": lambda q: q.split("&tkn=")[0],
    "duplicated": lambda q: q + "&tkn=other",
    "oversized": lambda q: q.split("&tkn=")[0] + "&tkn=" + "a" * 1100,
    "markup": lambda q: q.split("&tkn=")[0] + "&tkn=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
}


@dataclass(frozen=True)
class SignoutCase:
    """A sign-out POST as a browser or an attacker might send it: headers, and what its
    form sends as the sign-out token ("page": the one the confirmation page carries)."""

    headers: dict[str, str]
    token: str | None = None
    #: 303: signed out; 403: refused, the session lives on.
    status: int = 303
    #: How the token travels: in an urlencoded form (as browsers send it), or elsewhere.
    carrier: str = "form"

    def body(self, page_token: str) -> tuple[str, bytes, str]:
        """The query suffix, body and content type to send."""
        token = page_token if self.token == "page" else self.token
        if token is None:
            return "", b"", "application/x-www-form-urlencoded"
        field = f"redtrust_signout={token}"
        if self.carrier == "query":
            return "?" + field, b"", "application/x-www-form-urlencoded"
        if self.carrier == "json":
            return "", f'{{"redtrust_signout": "{token}"}}'.encode(), "application/json"
        if self.carrier == "oversized":
            return "", f"{field}&pad={'a' * 5000}".encode(), "application/x-www-form-urlencoded"
        if self.carrier == "twice":
            return "", f"{field}&{field}".encode(), "application/x-www-form-urlencoded"
        return "", field.encode(), "application/x-www-form-urlencoded"


OTHER_SESSIONS_TOKEN = "pVxM8m0hYtqQ2c1Kq9yW3eLr7dZfB4uN6sTa0gHjIkE"
#: Each sign-out POST and its expected answer; the Starlette, FastAPI and Django suites run
#: them all. Expected values follow the rule in docs/security.md (rows 12, 46, 47).
SIGNOUT_CASES: dict[str, SignoutCase] = {
    "token, Origin null (no-referrer page)": SignoutCase({"origin": "null"}, "page"),
    "token, no Origin or Referer": SignoutCase({}, "page"),
    "same-origin Origin": SignoutCase({"origin": TEST_APP_URL}),
    "same-origin Origin, default port": SignoutCase({"origin": TEST_APP_URL + ":443"}),
    "same-origin Referer": SignoutCase({"referer": TEST_APP_URL + "/me"}),
    "Sec-Fetch-Site same-origin": SignoutCase({"sec-fetch-site": "same-origin"}),
    "no proof at all": SignoutCase({}, status=403),
    "Origin null, no token": SignoutCase({"origin": "null"}, status=403),
    "wrong token": SignoutCase({}, "x" * 43, status=403),
    "another session's token": SignoutCase({}, OTHER_SESSIONS_TOKEN, status=403),
    "token in the query": SignoutCase({}, "page", status=403, carrier="query"),
    "token as JSON": SignoutCase({}, "page", status=403, carrier="json"),
    "token twice": SignoutCase({}, "page", status=403, carrier="twice"),
    "token in an oversized form": SignoutCase({}, "page", status=403, carrier="oversized"),
    "cross-site Origin, with token": SignoutCase(
        {"origin": "https://evil.example"}, "page", status=403
    ),
    "cross-site Sec-Fetch-Site, with token": SignoutCase(
        {"sec-fetch-site": "cross-site"}, "page", status=403
    ),
    "same-site sibling, with token": SignoutCase({"sec-fetch-site": "same-site"}, "page", 403),
    "cross-site Referer": SignoutCase({"referer": "https://evil.example/"}, status=403),
    "look-alike Origin": SignoutCase({"origin": TEST_APP_URL + ".evil.example"}, status=403),
}


def page_signout_token(html: str) -> str:
    """The sign-out token a page's form carries (as a browser would send it)."""
    import re

    found: list[str] = re.findall(r'name="?redtrust_signout"? value="([^"]*)"', html)
    assert len(found) == 1, html
    return found[0]
