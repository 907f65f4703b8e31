"""The ASGI and WSGI examples under their frameworks' real OpenTelemetry instrumentation:
without :class:`RedactCallbackSpans` the callback's tkn and state reach the exported spans;
with it no secret of the sign-in does, in any span or metric."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as AsgiMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiMiddleware
from tests.otel import Telemetry, attribute_values, leaks, telemetry

from redtrust_middleware.logfilter import REDACTED
from redtrust_middleware.testing import TEST_APP_URL

from .conftest import APPS, AsyncWSGITransport, Site, make_site

pytestmark = pytest.mark.anyio

LOGIN_COOKIE = "__Host-redtrust_login"


def instrument(face: str, app: Any, otel: Telemetry) -> Any:
    """``app`` instrumented as its framework's instrumentation documents it."""
    tracing, metering = otel.tracer_provider, otel.meter_provider
    if face == "starlette":
        StarletteInstrumentor.instrument_app(app, tracer_provider=tracing, meter_provider=metering)
        return app
    if face == "fastapi":
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracing, meter_provider=metering)
        return app
    if face == "flask":
        instrument_flask = FlaskInstrumentor().instrument_app  # untyped
        instrument_flask(app, tracer_provider=tracing, meter_provider=metering)  # type: ignore[no-untyped-call]
        return app
    if face == "wsgi":
        return WsgiMiddleware(app, tracer_provider=tracing, meter_provider=metering)
    # The demo: the bare ASGI middleware.
    return AsgiMiddleware(app, tracer_provider=tracing, meter_provider=metering)


@pytest.fixture(params=[False, True], ids=["unfiltered", "filtered"])
def redacted(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture(params=sorted(APPS))
async def traced(
    request: pytest.FixtureRequest, redacted: bool
) -> AsyncIterator[tuple[Site, Telemetry]]:
    face = str(request.param)
    with telemetry(redacted=redacted) as otel:
        site, app = make_site(APPS[face])
        served = instrument(face, app, otel)
        transport = (
            AsyncWSGITransport(served)
            if face in ("flask", "wsgi")
            else httpx2.ASGITransport(app=served)
        )
        await site.browser.aclose()
        site.browser = httpx2.AsyncClient(transport=transport, base_url=TEST_APP_URL)
        async with site.browser:
            yield site, otel


async def walk_every_route(site: Site) -> dict[str, str]:
    """Sign in, use the pages, refresh, replay the callback, sign out; the secrets met."""
    start = await site.browser.get("/redtrust/login", params={"next": "/me"})
    login_cookie = site.browser.cookies.get(LOGIN_COOKIE) or ""
    callback = await site.follow_to_redtrust(start)
    path = callback.removeprefix(TEST_APP_URL)
    query = dict(part.split("=", 1) for part in path.split("?", 1)[1].split("&"))
    done = await site.browser.get(path)
    assert done.status_code == 303
    handle = site.session_cookie()
    assert handle is not None
    first = await site.manager.get(handle)
    assert first is not None
    assert (await site.browser.get("/me")).status_code == 200
    site.clock.advance(250)  # past the access token's refresh point
    assert (await site.browser.get("/api/me")).status_code == 200
    second = await site.manager.get(handle)
    assert second is not None
    assert second.tokens.access_token != first.tokens.access_token  # it did refresh
    assert (await site.browser.get(path)).status_code == 400  # a replay, refused
    out = await site.browser.post("/redtrust/logout", headers={"origin": TEST_APP_URL})
    assert out.status_code == 303
    return {
        "tkn": query["tkn"],
        "state": query["state"],
        "login cookie": login_cookie,
        "session cookie": handle,
        "access token": first.tokens.access_token,
        "refresh token": first.tokens.refresh_token or "",
        "refreshed access token": second.tokens.access_token,
        "refreshed refresh token": second.tokens.refresh_token or "",
    }


async def test_no_secret_of_a_sign_in_reaches_an_exported_span_or_metric(
    traced: tuple[Site, Telemetry], redacted: bool
) -> None:
    site, otel = traced
    secrets = await walk_every_route(site)
    assert all(secrets.values()), secrets
    found = leaks(otel.exported(), secrets)
    if not redacted:
        # The leak is real: the instrumentation records the callback's query as it is.
        assert any(leak.startswith(("tkn in span", "state in span")) for leak in found), found
        return
    assert found == []
    # The callback is still there to see, its parameters named (url.query where the server
    # gives the raw target: every ASGI server, gunicorn; http.url otherwise).
    spans = otel.finished_spans()
    assert attribute_values(spans, "url.query") <= {
        f"state={REDACTED}&tkn={REDACTED}",
        "next=%2Fme",
    }
    assert f"/redtrust/callback?state={REDACTED}&tkn={REDACTED}" in {
        value.removeprefix(TEST_APP_URL)
        for key in ("http.target", "http.url", "url.full")
        for value in attribute_values(spans, key)
    }


async def test_metrics_carry_no_query_even_unfiltered(traced: tuple[Site, Telemetry]) -> None:
    # The reason the docs give no metric View: what the instrumentation records on its
    # histograms and counters is the route template, never the URL.
    site, otel = traced
    secrets = await walk_every_route(site)
    data = otel.metrics.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert names & {"http.server.duration", "http.server.request.duration"}  # there are some
    assert leaks({"metrics": data.to_json()}, secrets) == []
