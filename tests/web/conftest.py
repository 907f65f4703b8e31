"""An app behind the middleware, the sandbox behind the app, and a browser between them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from examples.fastapi_app import create_app as create_fastapi_app
from examples.starlette_app import create_app

from redtrust_middleware import (
    AsyncClient,
    AsyncSessionManager,
    AsyncStore,
    MemoryStore,
    RedtrustConfig,
)
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_USERS,
    FakeClock,
    make_config,
    make_sandbox,
)


@dataclass
class Site:
    """A Starlette example app wired to an in-process sandbox, and a cookie-keeping browser."""

    sandbox: Sandbox
    clock: FakeClock
    config: RedtrustConfig
    manager: AsyncSessionManager
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
    store: AsyncStore | None = None,
    **config_options: Any,
) -> tuple[Site, Any]:
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    config = make_config(**config_options)
    client = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
    store = store if store is not None else MemoryStore(clock=clock)
    manager = AsyncSessionManager(config, store=store, client=client, clock=clock)
    app = app_factory(config, manager=manager)
    browser = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=TEST_APP_URL)
    return Site(sandbox=sandbox, clock=clock, config=config, manager=manager, browser=browser), app


APPS = {"starlette": create_app, "fastapi": create_fastapi_app}


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
