"""The example site on a real Redis: an outage answers 503 where a session is needed, and
public pages keep working."""

from __future__ import annotations

import pytest

from redtrust_middleware.stores import RedisStore
from redtrust_middleware.testing import RedisServer

from .conftest import make_site

pytestmark = pytest.mark.anyio


async def test_redis_down_is_a_503_for_signed_in_pages_only(redis_server: RedisServer) -> None:
    store = RedisStore(url=redis_server.url, socket_timeout=0.5)
    site, _ = make_site(store=store)
    try:
        async with site.browser:
            assert (await site.sign_in()).status_code == 303
            assert (await site.browser.get("/me")).status_code == 200
            redis_server.kill()
            page = await site.browser.get("/me")
            assert page.status_code == 503
            assert "Sessions are unavailable" in page.text  # the store, not Redtrust
            assert "Redtrust" not in page.text
            api = await site.browser.get("/api/me")
            assert api.status_code == 503
            assert api.json() == {"error": "store_unavailable"}
            assert site.session_cookie() is not None  # the browser keeps its session
            home = await site.browser.get("/")
            assert home.status_code == 200  # a public page runs, without the session
            site.browser.cookies.clear()
            assert (await site.browser.get("/")).status_code == 200
            redis_server.start()  # empty: this test server keeps no data
            assert (await site.browser.get("/")).status_code == 200
    finally:
        await store.aclose()
