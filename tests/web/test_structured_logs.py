"""Each face's log records, as a log store sees them: an event and its fields on every one,
the events an operator looks for where they belong, and no credential anywhere in them."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.logscan import check_shapes, of, scan, watch_wire

from redtrust_middleware.session.records import session_tag
from redtrust_middleware.testing import TEST_USERS

from .conftest import Site

pytestmark = pytest.mark.anyio


def _secrets(site: Site, *more: str | None) -> list[str]:
    return [site.config.shared_secret, *TEST_USERS.values(), *(m for m in more if m)]


async def test_sign_in_refresh_storm_and_sign_out_log_their_events_and_no_secret(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(site.sandbox)
    callback = await site.start()
    await site.browser.get(callback)
    handle = site.session_cookie()
    assert handle is not None
    tag = session_tag(handle)
    await site.browser.get(callback)  # a replay: refused
    site.clock.advance(310)
    site.sandbox.latency = 0.05
    answers = await asyncio.gather(*(site.browser.get("/api/me") for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    out = await site.browser.post("/redtrust/logout", headers={"origin": "https://app.test"})
    assert out.status_code == 303

    records = caplog.records
    check_shapes(records)
    assert scan(records, [*wire, *_secrets(site, handle)]) > 0
    assert len(wire.values) >= 5  # tkn, state, tokens, signatures: the scan looked for them
    assert of(records, "redtrust.login.started") == [{}]
    (login,) = of(records, "redtrust.login.completed")
    assert login["session"] == tag
    assert isinstance(login["latency_ms"], float)
    assert login["latency_ms"] >= 0
    # The replay: this browser's pending login was used by the first visit.
    assert of(records, "redtrust.login.refused") == [{"reason": "NO_PENDING_LOGIN"}]
    (refreshed,) = of(records, "redtrust.refresh.completed")  # one refresh for the storm
    assert refreshed["outcome"] == "refreshed"
    assert refreshed["session"] == tag
    assert refreshed["latency_ms"] >= 50  # the sandbox's latency
    # The threads of a WSGI face that waited for it find it done (an ASGI face's requests
    # await the one refresh task instead, and log nothing).
    joined = of(records, "redtrust.refresh.joined")
    assert all(j == {"outcome": "joined", "session": tag} for j in joined)
    assert of(records, "redtrust.logout") == [{"reason": "signed_out", "session": tag}]
    calls = of(records, "redtrust.call")
    assert [c["operation"] for c in calls] == ["exchange", "refresh"]
    for call in calls:
        assert call["partner"] == site.config.partner
        assert (call["outcome"], call["status"]) == ("ok", 200)


async def test_a_rejected_refresh_logs_why_the_session_ended(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(site.sandbox)
    await site.sign_in()
    handle = site.session_cookie()
    assert handle is not None
    site.sandbox.revoke("alice")
    site.clock.advance(310)
    assert (await site.browser.get("/api/me")).status_code == 401
    check_shapes(caplog.records)
    scan(caplog.records, [*wire, *_secrets(site, handle)])
    (failed,) = of(caplog.records, "redtrust.refresh.failed")
    assert failed["outcome"] == "rejected"
    assert failed["session"] == session_tag(handle)
    assert failed["error_type"] == "APIError"
    assert failed["status"] in (400, 401, 403)
    assert isinstance(failed["code"], str)
    assert failed["code"]
    ended = of(caplog.records, "redtrust.logout")
    assert ended == [{"reason": "refresh_rejected", "session": session_tag(handle)}]
    (call,) = [c for c in of(caplog.records, "redtrust.call") if c["operation"] == "refresh"]
    assert (call["outcome"], call["code"]) == ("error", failed["code"])


async def test_redtrust_down_logs_a_transient_refresh_and_no_secret(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(site.sandbox)
    await site.sign_in()
    handle = site.session_cookie()
    assert handle is not None
    site.clock.advance(400)
    site.sandbox.fail_next(1, 503, endpoint="refresh")
    assert (await site.browser.get("/me")).status_code == 503
    check_shapes(caplog.records)
    scan(caplog.records, [*wire, *_secrets(site, handle)])
    (failed,) = of(caplog.records, "redtrust.refresh.failed")
    assert (failed["outcome"], failed["status"]) == ("transient", 503)
    assert failed["session"] == session_tag(handle)
    (unavailable,) = of(caplog.records, "redtrust.session.unavailable")
    assert unavailable == {"error_type": "RefreshFailedError"}
    assert of(caplog.records, "redtrust.logout") == []  # the session survives


async def test_a_session_past_its_idle_timeout_is_logged_as_ended(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    await site.sign_in()
    handle = site.session_cookie()
    assert handle is not None
    caplog.set_level(logging.INFO, logger="redtrust_middleware")
    site.clock.advance(site.config.idle_timeout + 1)
    assert (await site.browser.get("/api/me")).status_code == 401
    check_shapes(caplog.records)
    # No hook is set: the log tells all the same ("expired": the store dropped the record
    # at its idle timeout).
    assert of(caplog.records, "redtrust.logout") == [
        {"reason": "expired", "session": session_tag(handle)}
    ]
