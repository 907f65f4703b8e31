"""The example Django site under ``DjangoInstrumentor`` (WSGI and ASGI): without
:class:`RedactCallbackSpans` the callback's tkn and state reach the exported spans; with it
no secret of the sign-in does, in any span or metric."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from opentelemetry.instrumentation.django import DjangoInstrumentor
from tests.otel import Telemetry, attribute_values, leaks, telemetry

from redtrust_django.signals import redtrust_logged_in, token_refreshed
from redtrust_middleware.logfilter import REDACTED

from .conftest import ORIGIN, DjangoSite

CALLBACK = f"/redtrust/callback?state={REDACTED}&tkn={REDACTED}"


@pytest.fixture(params=[False, True], ids=["unfiltered", "filtered"])
def traced(
    request: pytest.FixtureRequest, dsite: DjangoSite
) -> Iterator[tuple[DjangoSite, Telemetry]]:
    """The site instrumented as the Django instrumentation documents it (before the first
    request: the test client loads the middleware then)."""
    with telemetry(redacted=bool(request.param)) as otel:
        DjangoInstrumentor().instrument(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
        )
        try:
            yield dsite, otel
        finally:
            DjangoInstrumentor().uninstrument()


def walk_every_route(dsite: DjangoSite) -> dict[str, str]:
    """Sign in, use the pages, refresh, replay the callback, sign out; the secrets met."""
    contexts: list[Any] = []

    def seen(**kwargs: Any) -> None:
        contexts.append(kwargs["context"])

    redtrust_logged_in.connect(seen, weak=False)
    token_refreshed.connect(seen, weak=False)
    try:
        callback = dsite.start()
        query = dict(parse_qsl(urlsplit(callback).query))
        assert dsite.get(callback).status_code == 303
        handle = dsite.session_id() or ""
        assert dsite.get("/me").status_code == 200
        dsite.clock.advance(250)  # past the access token's refresh point
        assert dsite.get("/api/me").status_code == 200
        (session,) = dsite.sandbox.sessions_for("alice")
        assert dsite.get(callback).status_code == 400  # a replay, refused
        assert dsite.post("/redtrust/logout", ORIGIN).status_code == 303
    finally:
        redtrust_logged_in.disconnect(seen)
        token_refreshed.disconnect(seen)
    assert len(contexts) == 2  # signed in, then refreshed
    tokens = [context.tokens for context in contexts]
    return {
        "tkn": query["tkn"],
        "state": query["state"],
        "session cookie": handle,
        "access token": tokens[0].access_token,
        "refresh token": tokens[0].refresh_token or "",
        "refreshed access token": tokens[1].access_token,
        "refreshed refresh token": session.refresh_token,
    }


def test_no_secret_of_a_sign_in_reaches_an_exported_span_or_metric(
    traced: tuple[DjangoSite, Telemetry], request: pytest.FixtureRequest
) -> None:
    dsite, otel = traced
    secrets = walk_every_route(dsite)
    assert all(secrets.values()), secrets
    found = leaks(otel.exported(), secrets)
    if "unfiltered" in request.node.callspec.id:
        # The leak is real: the instrumentation records the callback's query as it is.
        assert any(leak.startswith(("tkn in span", "state in span")) for leak in found), found
        return
    assert found == []
    spans = otel.finished_spans()
    assert CALLBACK in {
        value.removeprefix("http://testserver")
        for key in ("http.target", "http.url", "url.full")
        for value in attribute_values(spans, key)
    }
    # The metrics carry Django's route, never the query: nothing there to filter.
    data = otel.metrics.get_metrics_data()
    assert data is not None
    assert leaks({"metrics": data.to_json()}, secrets) == []
