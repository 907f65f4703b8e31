"""The browser flow through the Starlette example app, end to end with the sandbox."""

from __future__ import annotations

import pytest

from .conftest import Site

pytestmark = pytest.mark.anyio


async def test_sign_in_lands_on_next_signed_in(site: Site) -> None:
    done = await site.sign_in("/me?tab=1%2F2")
    assert done.status_code == 303
    assert done.headers["location"] == "/me?tab=1%2F2"
    assert done.headers["referrer-policy"] == "no-referrer"
    assert done.headers["cache-control"] == "no-store"
    me = await site.browser.get("/me")
    assert me.status_code == 200
    assert "alice" in me.text
    api = await site.browser.get("/api/me")
    assert api.json()["user"] == "alice"


async def test_protected_pages_redirect_and_api_answers_401(site: Site) -> None:
    page = await site.browser.get("/me?x=1")
    assert page.status_code == 302
    assert page.headers["location"] == "/redtrust/login?next=%2Fme%3Fx%3D1"
    api = await site.browser.get("/api/me")
    assert api.status_code == 401
    assert api.json()["login_url"].startswith("/redtrust/login")
    assert "www-authenticate" in api.headers
