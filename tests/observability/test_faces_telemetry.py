"""Every face (the examples on Starlette, FastAPI, Flask, the bare ASGI and WSGI middleware)
emits the same spans and metrics, because the core does: a browser signs in, is refreshed
and signs out, and the exported data is scanned for what the sandbox issued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.web.conftest import APPS, Site, make_site

from redtrust_middleware import ActiveSession
from redtrust_middleware.testing import TEST_SECRET

from .conftest import Telemetry, tag_of

pytestmark = pytest.mark.anyio


@pytest.fixture(params=sorted(APPS))
async def site(request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    built, _ = make_site(APPS[request.param])
    async with built.browser:
        yield built


async def test_each_face_traces_sign_in_refresh_and_sign_out(otel: Telemetry, site: Site) -> None:
    callback = await site.start("/me")
    query = parse_qs(urlsplit(callback).query)
    otel.secrets.update(value for values in query.values() for value in values)  # tkn, state
    otel.secrets.add(TEST_SECRET)
    answer = await site.browser.get(callback)
    assert answer.status_code == 303
    handle = site.session_cookie()
    assert handle is not None
    otel.secrets.add(handle)
    first = await site.manager.get(handle)
    assert isinstance(first, ActiveSession)
    otel.secrets.update({first.tokens.access_token, first.tokens.refresh_token or ""})

    site.clock.advance(290)  # within the leeway: the next page refreshes
    assert (await site.browser.get("/me")).status_code == 200
    second = await site.manager.get(handle)
    assert isinstance(second, ActiveSession)
    otel.secrets.update({second.tokens.access_token, second.tokens.refresh_token or ""})
    assert second.tokens.access_token != first.tokens.access_token

    out = await site.browser.post("/redtrust/logout", headers={"origin": "https://app.test"})
    assert out.status_code == 303

    names = [span.name for span in otel.spans()]
    for name in (
        "redtrust.login.start",
        "redtrust.login.callback",
        "redtrust.api.exchange",
        "redtrust.session.refresh",
        "redtrust.api.refresh",
        "redtrust.logout",
    ):
        assert name in names, name
    refresh = otel.span("redtrust.session.refresh")
    assert dict(refresh.attributes or {}) == {
        "redtrust.session.tag": tag_of(handle),
        "redtrust.refresh.outcome": "refreshed",
    }
    assert otel.value("redtrust.logins.completed") == 1
    assert otel.by("redtrust.refreshes", "redtrust.refresh.outcome") == {"refreshed": 1}
    assert otel.by("redtrust.sessions.ended", "redtrust.logout.reason") == {"signed_out": 1}


async def test_a_sampled_request_reads_the_store_after_requests_served_from_memory(
    otel: Telemetry, site: Site
) -> None:
    """Requests answered as the one before (no store read) stop short of a sampled one: its
    read of the store gets its span, on every face."""
    await site.sign_in()
    for _ in range(3):  # the second and third are answered from this process's memo
        assert (await site.browser.get("/api/me")).status_code == 200
    otel.exporter.clear()
    with otel.tracer.start_as_current_span("GET /api/me"):
        assert (await site.browser.get("/api/me")).status_code == 200
    assert [s.name for s in otel.spans() if s.name.startswith("redtrust.store.")] == [
        "redtrust.store.get"
    ]
    otel.exporter.clear()
    assert (await site.browser.get("/api/me")).status_code == 200  # not sampled: no span
    assert [s.name for s in otel.spans() if s.name.startswith("redtrust.store.")] == []
