"""Fault knobs, counters and the async transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx2
import pytest

from redtrust_middleware.sandbox import HOSTILE_KINDS, HostileKind, Sandbox

from ._support import (
    EXCHANGE_PATH,
    JSON,
    LOGIN_PATH,
    PARTNER,
    RA_REFRESH_PATH,
    browser_login,
    envelope_of,
    exchange,
    login_params,
    signed_headers,
    token_data,
)


def refresh(client: httpx2.Client, refresh_token: str) -> httpx2.Response:
    return client.put(
        RA_REFRESH_PATH, json={"refreshToken": refresh_token}, headers=signed_headers()
    )


def test_fail_next_answers_the_fault_and_changes_nothing(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    token = sandbox.issue_temp_token("alice", partner=PARTNER)
    sandbox.fail_next(2)
    for _ in range(2):
        envelope_of(exchange(client, token), 503, "SANDBOX_FAULT")
    token_data(exchange(client, token))  # the token survived both faults
    assert sandbox.calls["exchange"] == 3


def test_fail_next_for_one_endpoint_with_a_status(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.fail_next(1, 500, endpoint="refresh")
    data = token_data(exchange(client, sandbox.issue_temp_token("alice", partner=PARTNER)))
    envelope_of(refresh(client, data["refreshToken"]), 500, "SANDBOX_FAULT")
    token_data(refresh(client, data["refreshToken"]))  # not rotated by the fault


def test_faults_queue_in_order(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.fail_next(1, 502)
    sandbox.fail_next(1, 429)
    envelope_of(exchange(client, "x"), 502, "SANDBOX_FAULT")
    envelope_of(exchange(client, "x"), 429, "SANDBOX_FAULT")
    envelope_of(exchange(client, "x"), 401, "INVALID_TEMPORAL_TOKEN")


def test_fail_next_on_the_browser_route_is_a_page(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.fail_next(endpoint="loginrequest")
    response = client.get(LOGIN_PATH, params=login_params())
    assert response.status_code == 503
    assert "<code>SANDBOX_FAULT</code>" in response.text


def test_clear_faults(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.fail_next(5)
    sandbox.drop_next(5)
    sandbox.clear_faults()
    envelope_of(exchange(client, "x"), 401, "INVALID_TEMPORAL_TOKEN")


def test_drop_next_loses_the_response_after_the_state_changed(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    data = token_data(exchange(client, browser_login(client)))
    sandbox.drop_next(endpoint="refresh")
    with pytest.raises(httpx2.ReadError):
        refresh(client, data["refreshToken"])
    # The refresh happened: the token we still hold was rotated out.
    (session,) = sandbox.sessions_for("alice")
    assert session.refreshes == 1
    envelope_of(refresh(client, data["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1
    assert sandbox.calls["refresh"] == 2


def test_drop_next_only_counts_matching_calls(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.drop_next(1, endpoint="logout")
    envelope_of(exchange(client, "x"), 401, "INVALID_TEMPORAL_TOKEN")
    with pytest.raises(httpx2.ReadError):
        client.delete("/raapi/v1/auth/logout", headers=signed_headers())


def test_handle_marks_a_dropped_response(sandbox: Sandbox) -> None:
    sandbox.drop_next()
    request = httpx2.Request("GET", "https://rt.example/nowhere-counted" + EXCHANGE_PATH)
    assert sandbox.handle(request).status_code == 404  # not routed: no fault taken
    request = httpx2.Request("POST", "https://rt.example" + EXCHANGE_PATH, content=b"")
    response = sandbox.handle(request)
    assert response.extensions["redtrust_sandbox.drop"] is True


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.fail_next(0), "count"),
        (lambda s: s.fail_next(True), "count"),
        (lambda s: s.fail_next(1, 200), "status"),
        (lambda s: s.fail_next(1, 600), "status"),
        (lambda s: s.fail_next(1, endpoint="nope"), "endpoint"),
        (lambda s: s.drop_next(-1), "count"),
        (lambda s: s.drop_next(1, endpoint="stats"), "endpoint"),
    ],
)
def test_fault_arguments_are_checked(
    sandbox: Sandbox, call: Callable[[Sandbox], None], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(sandbox)


def test_latency(sandbox: Sandbox, client: httpx2.Client) -> None:
    assert sandbox.latency == 0
    sandbox.latency = 0.05
    started = time.monotonic()
    envelope_of(exchange(client, "x"), 401, "INVALID_TEMPORAL_TOKEN")
    assert time.monotonic() - started >= 0.05
    sandbox.latency = 0
    with pytest.raises(ValueError, match="latency"):
        sandbox.latency = -1
    with pytest.raises(ValueError, match="latency"):
        sandbox.latency = float("nan")
    with pytest.raises(TypeError):
        sandbox.latency = "1"  # type: ignore[assignment]


def test_counters_and_the_stats_endpoints(sandbox: Sandbox, client: httpx2.Client) -> None:
    data = token_data(exchange(client, browser_login(client)))
    refresh(client, data["refreshToken"])
    refresh(client, data["refreshToken"])
    expected = {"loginrequest": 1, "login_form": 1, "exchange": 1, "refresh": 2, "refresh_reuse": 1}
    assert dict(sandbox.calls) == expected
    stats = envelope_of(client.get("/_sandbox/stats"), 200, "OK")
    assert stats == {"calls": expected}
    assert dict(sandbox.calls) == expected  # reading the stats is not counted
    envelope_of(client.post("/_sandbox/reset"), 200, "OK")
    assert not sandbox.calls
    exchange(client, "x")
    sandbox.reset_counters()
    assert envelope_of(client.get("/_sandbox/stats"), 200, "OK") == {"calls": {}}


def test_control_routes_ignore_faults(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.fail_next(3)
    envelope_of(client.get("/_sandbox/stats"), 200, "OK")
    assert client.get("/_sandbox/jwks.json").status_code == 200


def test_single_use_holds_under_threads(sandbox: Sandbox, client: httpx2.Client) -> None:
    data = token_data(exchange(client, browser_login(client)))
    results: list[int] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        results.append(refresh(client, data["refreshToken"]).status_code)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [401] * 15
    assert sandbox.calls["refresh_reuse"] == 15


@pytest.mark.anyio
async def test_async_transport(sandbox: Sandbox) -> None:
    token = sandbox.issue_temp_token("alice", partner=PARTNER)
    sandbox.latency = 0.01
    async with httpx2.AsyncClient(
        transport=sandbox.async_transport(), base_url="https://rt.example"
    ) as client:
        body = {"temporalToken": token}
        response = await client.post(EXCHANGE_PATH, json=body, headers=signed_headers())
        data = token_data(response)
        sandbox.drop_next()
        with pytest.raises(httpx2.ReadError):
            await client.put(
                RA_REFRESH_PATH,
                json={"refreshToken": data["refreshToken"]},
                headers=signed_headers(),
            )
    assert sandbox.sessions_for("alice")[0].refreshes == 1


# -- hostile answers (THREATS row 41) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("not-json", 200, "application/json"),
        ("html", 200, "text/html; charset=utf-8"),
        ("non-object", 200, "application/json"),
        ("no-envelope", 200, "application/json"),
        ("wrong-types", 200, "application/json"),
        ("success-with-error-code", 200, "application/json"),
        ("bad-expiration", 200, "application/json"),
        ("redirect", 302, None),
    ],
)
def test_misbehave_next(
    sandbox: Sandbox,
    client: httpx2.Client,
    kind: HostileKind,
    status: int,
    content_type: str | None,
) -> None:
    token = sandbox.issue_temp_token("alice", partner=PARTNER)
    sandbox.misbehave_next(kind, endpoint="exchange")
    response = exchange(client, token)
    assert response.status_code == status
    assert response.headers.get("content-type") == content_type
    if kind == "success-with-error-code":
        body = response.json()
        assert (body["messageType"], body["errorCode"]) == ("SUCCESS", "INVALID_REFRESH_TOKEN")
    if kind == "wrong-types":
        assert response.json()["data"]["accessToken"] == 42
    if kind == "redirect":
        assert response.headers["location"].startswith("https://evil.example/")
    token_data(exchange(client, token))  # the hostile answer changed nothing
    assert sandbox.calls["exchange"] == 2


def test_misbehave_huge(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.misbehave_next("huge")
    response = exchange(client, "x")
    assert len(response.content) > 8 * 1024 * 1024
    assert response.json()["errorCode"] == "OK"


def test_misbehave_gzip_bomb_is_small_on_the_wire(sandbox: Sandbox, client: httpx2.Client) -> None:
    sandbox.misbehave_next("gzip-bomb")
    headers = {**signed_headers(), **JSON}
    with client.stream("POST", EXCHANGE_PATH, content=b"{}", headers=headers) as r:
        assert r.headers["content-encoding"] == "gzip"
        wire = int(r.headers["content-length"])
        assert wire < 1024 * 1024
        decoded = 0
        for chunk in r.iter_bytes():
            decoded += len(chunk)
            if decoded > 1024 * 1024:
                break
    assert decoded > wire  # it inflates: a client must cap what it decodes


def test_misbehave_arguments_are_checked(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        sandbox.misbehave_next("evil")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        sandbox.misbehave_next("html", 0)
    assert "gzip-bomb" in HOSTILE_KINDS


def test_fail_comes_before_misbehave_comes_before_drop(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    sandbox.drop_next()
    sandbox.misbehave_next("html")
    sandbox.fail_next()
    assert exchange(client, "x").status_code == 503
    assert exchange(client, "x").headers["content-type"].startswith("text/html")
    with pytest.raises(httpx2.ReadError):
        exchange(client, "x")
    envelope_of(exchange(client, "x"), 401, "INVALID_TEMPORAL_TOKEN")
