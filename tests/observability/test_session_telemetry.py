"""Spans and metrics of the session layer, both drivers, against the sandbox."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from tests.session.conftest import SECRET, World, make_world

from redtrust_middleware import ActiveSession, LoginExpiredError, StoreError, TokenSet
from redtrust_middleware.sandbox import INVALID_REFRESH_TOKEN, SANDBOX_FAULT

from .conftest import Telemetry, is_child, tag_of

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest) -> World:
    return make_world(str(request.param))


def remember(otel: Telemetry, world: World, *things: object) -> None:
    """Register the secrets of ``things`` (token sets, sessions, handles, queries)."""
    otel.secrets.add(SECRET)
    for thing in things:
        if isinstance(thing, ActiveSession):
            thing = thing.tokens
        if isinstance(thing, TokenSet):
            otel.secrets.update(filter(None, (thing.access_token, thing.refresh_token)))
        elif isinstance(thing, str):
            otel.secrets.add(thing)
            for values in parse_qs(thing).values():  # a callback query: tkn and state
                otel.secrets.update(values)


async def signed_in(otel: Telemetry, world: World) -> str:
    start, query = await world.start_and_authenticate()
    remember(otel, world, query, *start.browser_nonces)
    done = await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    remember(otel, world, done.handle)
    session = await world.driver.get(done.handle)
    remember(otel, world, session)
    return str(done.handle)


async def test_a_sign_in_and_out_are_traced_and_counted(otel: Telemetry, world: World) -> None:
    handle = await signed_in(otel, world)
    assert await world.driver.logout(handle) is True

    start = otel.span("redtrust.login.start")
    callback = otel.span("redtrust.login.callback")
    assert callback.attributes is not None
    assert callback.attributes["redtrust.session.tag"] == tag_of(handle)
    assert callback.status.status_code is StatusCode.UNSET
    exchange = otel.span("redtrust.api.exchange")
    assert exchange.kind is SpanKind.CLIENT
    assert is_child(exchange, callback.context.span_id)
    assert dict(exchange.attributes or {}) == {
        "redtrust.operation": "exchange",
        "redtrust.partner": "CA_DEMO",
        "http.request.method": "GET",  # Certificate Enroll's exchange (the API's docs)
        "server.address": "redtrust.test",  # the configured server_url's host
        "server.port": 8083,  # Redtrust's port, the default of a server_url without one
        "http.response.status_code": 200,
        "redtrust.outcome": "ok",
    }
    logout = otel.span("redtrust.logout")
    assert dict(logout.attributes or {}) == {
        "redtrust.session.tag": tag_of(handle),
        "redtrust.logout.found": True,
    }
    assert otel.spans("redtrust.api.logout") == []  # Certificate Enroll has no remote logout
    assert start.end_time is not None

    assert otel.value("redtrust.logins.started") == 1
    assert otel.value("redtrust.logins.completed") == 1
    assert otel.points("redtrust.logins.refused") == []
    assert otel.by("redtrust.sessions.ended", "redtrust.logout.reason") == {"signed_out": 1}
    calls = otel.points("redtrust.api.calls")
    assert {(p.attributes["redtrust.operation"], p.attributes["redtrust.outcome"]): p.value
            for p in calls} == {("exchange", "ok"): 1}  # fmt: skip
    (duration,) = [
        p for p in otel.points("redtrust.api.duration")
        if p.attributes["redtrust.operation"] == "exchange"
    ]  # fmt: skip
    assert duration.count == 1
    assert duration.boundaries[:3] == (0.005, 0.01, 0.025)  # the advisory buckets, in s


async def test_a_replayed_callback_is_refused_by_reason(otel: Telemetry, world: World) -> None:
    start, query = await world.start_and_authenticate()
    remember(otel, world, query, *start.browser_nonces)
    done = await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    remember(otel, world, done.handle)
    with pytest.raises(LoginExpiredError):
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    refused = otel.spans("redtrust.login.callback")[-1]
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes is not None
    assert refused.attributes["error.type"] == "LoginExpiredError"
    assert refused.attributes["redtrust.login.reason"] == "LOGIN_EXPIRED"
    assert "redtrust.session.tag" not in refused.attributes
    assert refused.events == ()  # the exception is not recorded (its message, its trace)
    assert otel.by("redtrust.logins.refused", "redtrust.login.reason") == {"LOGIN_EXPIRED": 1}
    assert otel.value("redtrust.logins.completed") == 1


def refreshes(otel: Telemetry) -> list[str]:
    return sorted(
        str((s.attributes or {})["redtrust.refresh.outcome"])
        for s in otel.spans("redtrust.session.refresh")
    )


async def test_a_refresh_storm_is_one_refreshed_and_the_rest_joined(
    otel: Telemetry, world: World
) -> None:
    handle = await signed_in(otel, world)
    world.clock.advance(310)  # expired: every request needs the refresh
    world.sandbox.latency = 0.05
    results = await world.driver.concurrently(20, lambda: world.driver.get(handle))
    remember(otel, world, *results)
    assert world.sandbox.calls["refresh"] == 1
    outcomes = refreshes(otel)
    # A thread that starts late may read the refreshed record and need no refresh at all.
    assert outcomes.count("refreshed") == 1
    assert set(outcomes) == {"refreshed", "joined"}
    assert len(outcomes) >= 10
    counted = otel.by("redtrust.refreshes", "redtrust.refresh.outcome")
    assert counted == {"refreshed": 1, "joined": len(outcomes) - 1}
    (duration,) = otel.points("redtrust.refresh.duration")
    assert duration.attributes == {"redtrust.refresh.outcome": "refreshed"}
    assert duration.count == 1
    assert duration.total >= 0.05  # the sandbox's latency
    (waiters,) = otel.points("redtrust.refresh.waiters")
    assert waiters.count == 1  # one single-flight refresh
    assert 1 <= waiters.total <= len(outcomes) - 1
    refreshed = next(
        s
        for s in otel.spans("redtrust.session.refresh")
        if (s.attributes or {})["redtrust.refresh.outcome"] == "refreshed"
    )
    (call,) = otel.spans("redtrust.api.refresh")
    assert is_child(call, refreshed.context.span_id)
    assert (refreshed.attributes or {})["redtrust.session.tag"] == tag_of(handle)


async def test_a_rejected_refresh_ends_the_session(otel: Telemetry, world: World) -> None:
    handle = await signed_in(otel, world)
    world.sandbox.revoke("demo")
    world.clock.advance(290)
    assert await world.driver.get(handle) is None
    assert refreshes(otel) == ["rejected"]
    call = otel.span("redtrust.api.refresh")
    assert call.attributes is not None
    assert call.attributes["redtrust.outcome"] == "rejected"
    assert call.attributes["redtrust.error.code"] == INVALID_REFRESH_TOKEN
    assert call.attributes["error.type"] == "APIError"
    assert call.status.status_code is StatusCode.ERROR
    errors = {"redtrust.operation": "refresh", "redtrust.error.code": INVALID_REFRESH_TOKEN}
    assert otel.value("redtrust.api.errors", errors) == 1
    assert otel.by("redtrust.sessions.ended", "redtrust.logout.reason") == {"refresh_rejected": 1}
    (duration,) = otel.points("redtrust.refresh.duration")
    assert duration.attributes == {"redtrust.refresh.outcome": "rejected"}


async def test_a_transient_failure_keeps_the_session(otel: Telemetry, world: World) -> None:
    handle = await signed_in(otel, world)
    world.sandbox.fail_next(1, 503, endpoint="refresh")
    world.clock.advance(290)  # due for refresh, still valid
    assert await world.driver.get(handle) is not None
    assert refreshes(otel) == ["transient"]
    call = otel.span("redtrust.api.refresh")
    assert call.attributes is not None
    assert call.attributes["http.response.status_code"] == 503
    assert call.attributes["redtrust.error.code"] == SANDBOX_FAULT
    assert call.attributes["redtrust.outcome"] == "failed"
    # The next request within the cool-down makes no call: deferred.
    assert await world.driver.get(handle) is not None
    assert refreshes(otel) == ["deferred", "transient"]
    assert otel.by("redtrust.refreshes", "redtrust.refresh.outcome") == {
        "transient": 1,
        "deferred": 1,
    }
    assert otel.points("redtrust.sessions.ended") == []


async def test_a_lost_answer_is_an_unknown_outcome(otel: Telemetry, world: World) -> None:
    handle = await signed_in(otel, world)
    world.sandbox.drop_next(1, endpoint="refresh")
    world.clock.advance(290)
    assert await world.driver.get(handle) is not None  # served while the token lasts
    assert refreshes(otel) == ["unknown"]
    call = otel.span("redtrust.api.refresh")
    assert (call.attributes or {})["redtrust.outcome"] == "unknown"
    assert "redtrust.error.code" not in (call.attributes or {})


async def test_store_operations_get_spans_only_inside_a_sampled_span(
    otel: Telemetry, world: World
) -> None:
    handle = await signed_in(otel, world)
    otel.exporter.clear()
    await world.driver.get(handle)  # no request span at all
    assert otel.spans() == []
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    with unsampled.start_as_current_span("GET /me"):
        await world.driver.get(handle)
    assert otel.spans() == []
    with otel.tracer.start_as_current_span("GET /me") as request:
        await world.driver.get(handle)
    read = otel.span("redtrust.store.get")
    assert is_child(read, request.get_span_context().span_id)
    assert dict(read.attributes or {}) == {
        "redtrust.store.operation": "get",
        "redtrust.store.backend": "FlakyStore",
    }
    # A sampled refresh: its store operations (lock, re-read, swap, release) are spans too.
    world.clock.advance(290)
    with otel.tracer.start_as_current_span("GET /me"):
        remember(otel, world, await world.driver.get(handle))
    names = {s.name for s in otel.spans()}
    assert {"redtrust.store.add", "redtrust.store.replace_if", "redtrust.store.delete_if"} <= names


async def test_store_errors_are_counted_by_operation(otel: Telemetry, world: World) -> None:
    handle = await signed_in(otel, world)
    world.store.down = True
    with pytest.raises(StoreError):
        await world.driver.get(handle)
    with pytest.raises(StoreError):
        await world.driver.begin_login(next_url="/", callback_url=world.callback)
    assert otel.by("redtrust.store.errors", "redtrust.store.operation") == {"get": 1, "put": 1}
    failed = otel.spans("redtrust.login.start")[-1]
    assert (failed.attributes or {})["error.type"] == "StoreError"
    assert otel.value("redtrust.logins.started") == 1  # the failed start is not counted


async def test_a_direct_login_is_a_client_span(otel: Telemetry, world: World) -> None:
    remember(otel, world, await world.fresh_tokens())
    call = otel.span("redtrust.api.login")
    assert call.kind is SpanKind.CLIENT
    assert (call.attributes or {})["redtrust.outcome"] == "ok"
    ok = {"redtrust.operation": "login", "redtrust.outcome": "ok"}
    assert otel.value("redtrust.api.calls", ok) == 1
