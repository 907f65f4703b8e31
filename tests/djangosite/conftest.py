"""The example Django site over the in-process sandbox, driven under WSGI and under ASGI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.test import AsyncClient, Client

from redtrust_django.testing import asign_in, sign_in, use_sandbox
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_USERS,
    FakeClock,
    make_sandbox,
    sandbox_callback,
)

ORIGIN = {"origin": TEST_APP_URL}
PAGE = {"accept": "text/html", "sec-fetch-mode": "navigate"}


@dataclass
class DjangoSite:
    """A browser on the example site: the same calls whether Django runs WSGI or ASGI."""

    sandbox: Sandbox
    clock: FakeClock
    mode: str
    client: Any = field(repr=False)

    def _call(
        self, method: str, path: str, headers: dict[str, str] | None, **body: Any
    ) -> HttpResponse:
        send = getattr(self.client, method)
        if self.mode == "asgi":
            send = async_to_sync(send)
        response: HttpResponse = send(path, headers=headers or {}, **body)
        return response

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return self._call("get", path, headers)

    def post(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        content_type: str = "application/x-www-form-urlencoded",
    ) -> HttpResponse:
        return self._call("post", path, headers, data=body, content_type=content_type)

    def start(self, next_url: str = "/me", user: str = "alice") -> str:
        """Start a login and sign in on the sandbox: the callback path (not yet visited)."""
        response = self.get(f"/redtrust/login?next={quote(next_url, safe='')}")
        assert response.status_code == 302, response.content
        callback = sandbox_callback(self.sandbox, response["location"], user)
        assert callback.startswith(TEST_APP_URL + "/redtrust/callback?")
        parts = urlsplit(callback)
        return f"{parts.path}?{parts.query}"

    def sign_in(self, next_url: str = "/me", user: str = "alice") -> HttpResponse:
        """The whole sign-in, by the shipped helper (``redtrust_django.testing``)."""
        if self.mode == "asgi":
            done = async_to_sync(asign_in)(self.client, self.sandbox, user, next_url=next_url)
        else:
            done = sign_in(self.client, self.sandbox, user, next_url=next_url)
        return cast(HttpResponse, done)  # the test clients' responses are HttpResponses

    def session_id(self) -> str | None:
        cookie = self.client.cookies.get("sessionid")
        return cookie.value if cookie is not None and cookie.value else None

    def fresh_browser(self) -> DjangoSite:
        """Another browser (no cookies) on the same site."""
        client = AsyncClient() if self.mode == "asgi" else Client()
        return DjangoSite(sandbox=self.sandbox, clock=self.clock, mode=self.mode, client=client)

    def same_browser(self) -> DjangoSite:
        """Another client carrying this browser's cookies (a parallel tab)."""
        twin = self.fresh_browser()
        twin.client.cookies = self.client.cookies
        return twin


@pytest.fixture(params=["wsgi", "asgi"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dsite(mode: str, settings: Any, transactional_db: None) -> Iterator[DjangoSite]:
    """The example site, a fresh sandbox and cache, and a browser (under WSGI and ASGI);
    the database too, where RedtrustBackend keeps the Django users it signs in (emptied
    after each test: some tests sign in from several threads, each its own connection)."""
    from django.core.cache import caches

    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    caches["default"].clear()
    with use_sandbox(sandbox):
        client = AsyncClient() if mode == "asgi" else Client()
        yield DjangoSite(sandbox=sandbox, clock=clock, mode=mode, client=client)
    caches["default"].clear()


__all__ = ["ORIGIN", "PAGE", "TEST_USERS", "DjangoSite"]
