"""The sandbox's memory stays bounded: caps per table, forgetting with the injected clock,
and a replayed login link that cannot open sign-in pages without limit.

Everything runs on the fake clock; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from redtrust_middleware.exceptions import ConfigurationError
from redtrust_middleware.sandbox import TOO_MANY_LOGIN_ATTEMPTS, Sandbox, SandboxConfig

from ._support import (
    DIRECT_LOGIN_PATH,
    FORM_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    PARTNER,
    RA_REFRESH_PATH,
    SECRET,
    FakeClock,
    attempt_of,
    envelope_of,
    hmac_hex,
    login_params,
    signed_headers,
    token_data,
)

RETENTION = 1000


def make_sandbox(clock: FakeClock, **options: Any) -> Sandbox:
    options.setdefault("retention_seconds", RETENTION)
    return Sandbox(
        SandboxConfig(
            partners={PARTNER: SECRET},
            users={"alice": "wonderland", "bob": "builder"},
            redirect_prefixes=("https://app.example/",),
            **options,
        ),
        clock=clock,
    )


@pytest.fixture
def connect() -> Iterator[Any]:
    """``connect(sandbox)``: a client on its mock transport (closed after the test)."""
    clients: list[httpx2.Client] = []

    def _connect(sandbox: Sandbox) -> httpx2.Client:
        client = httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example")
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        client.close()


# -- helpers signing at the fake clock's time ---------------------------------------------------


def now_headers(clock: FakeClock) -> dict[str, str]:
    return signed_headers(int(clock.now))


def link_params(clock: FakeClock, offset: int = 0) -> dict[str, str]:
    """A login link signed at the clock's time + ``offset`` (offsets give distinct links)."""
    timestamp = str(int(clock.now) + offset)
    return login_params(timestamp=timestamp, hmac=hmac_hex(PARTNER, timestamp))


def open_page(client: httpx2.Client, params: dict[str, str]) -> httpx2.Response:
    return client.get(LOGIN_PATH, params=params)


def open_form(client: httpx2.Client, params: dict[str, str]) -> str:
    response = open_page(client, params)
    assert response.status_code == 200, response.text
    return attempt_of(response.text)


def submit(client: httpx2.Client, attempt: str) -> httpx2.Response:
    return client.post(
        FORM_PATH, data={"attempt": attempt, "username": "alice", "password": "wonderland"}
    )


def page_code(response: httpx2.Response) -> str:
    """The errorCode shown on an HTML error page."""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    code = response.text.partition("<code>")[2].partition("</code>")[0]
    assert code
    return code


def exchange_at(client: httpx2.Client, clock: FakeClock, token: str) -> httpx2.Response:
    return client.post(
        "/authapi/v1/login_by_temp_token", json={"temporalToken": token}, headers=now_headers(clock)
    )


def direct_login(client: httpx2.Client, clock: FakeClock, user: str = "alice") -> dict[str, str]:
    password = {"alice": "wonderland", "bob": "builder"}[user]
    response = client.post(
        DIRECT_LOGIN_PATH,
        json={"username": user, "password": password},
        headers=now_headers(clock),
    )
    return token_data(response)


def refresh(client: httpx2.Client, clock: FakeClock, refresh_token: str) -> httpx2.Response:
    body = {"refreshToken": refresh_token}
    return client.put(RA_REFRESH_PATH, json=body, headers=now_headers(clock))


def logout(client: httpx2.Client, clock: FakeClock, bearer: str) -> None:
    headers = {**now_headers(clock), "Authorization": f"Bearer {bearer}"}
    envelope_of(client.delete(LOGOUT_PATH, headers=headers), 200, "OK")


def holds_nothing(sandbox: Sandbox) -> bool:
    """No records left (the expiry queue may still hold entries of forgotten sessions)."""
    counts = sandbox.record_counts()
    del counts["session_expiries"]
    return set(counts.values()) == {0}


# -- configuration -------------------------------------------------------------------------------


def test_default_limits() -> None:
    config = SandboxConfig(
        partners={PARTNER: SECRET}, users={}, redirect_prefixes=("https://app.example/",)
    )
    assert config.retention_seconds == 3600
    assert config.max_login_attempts == 10_000
    assert config.max_attempts_per_link == 10
    assert config.max_temp_tokens == 10_000
    assert config.max_sessions == 100_000
    assert config.max_retired_refresh_tokens == 100_000
    assert "retention_seconds=3600, max_login_attempts=10000" in repr(config)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retention_seconds", -1),
        ("retention_seconds", 1.5),
        ("max_login_attempts", 0),
        ("max_attempts_per_link", 0),
        ("max_temp_tokens", True),
        ("max_sessions", 0),
        ("max_retired_refresh_tokens", "10"),
    ],
)
def test_invalid_limits_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_sandbox(FakeClock(), **{field: value})
    assert caught.value.field == field


def test_a_fresh_sandbox_holds_nothing() -> None:
    assert set(make_sandbox(FakeClock()).record_counts().values()) == {0}
    assert set(make_sandbox(FakeClock()).record_counts()) == {
        "login_attempts",
        "login_links",
        "temp_tokens",
        "sessions",
        "ended_sessions",
        "session_expiries",
        "refresh_tokens",
        "retired_refresh_tokens",
        "csr_requests",
        "csr_request_users",
        "finalized_requests",
        "certificates",
        "certificate_users",
    }


# -- login attempts ------------------------------------------------------------------------------


def test_a_replayed_login_link_opens_a_bounded_number_of_pages(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, max_attempts_per_link=3, login_page_ttl=60)
    client = connect(sandbox)
    link = link_params(clock)
    attempts = [open_form(client, link) for _ in range(3)]
    for _ in range(50):  # the replay: refused, and nothing is stored
        refused = open_page(client, link)
        assert refused.status_code == 429
        assert page_code(refused) == TOO_MANY_LOGIN_ATTEMPTS
    assert sandbox.record_counts()["login_attempts"] == 3
    assert sandbox.record_counts()["login_links"] == 1
    # Another link is not affected.
    open_form(client, link_params(clock, offset=1))
    # The pages already open still work, and a used one frees its place.
    assert submit(client, attempts[0]).status_code == 302
    open_form(client, link)
    assert open_page(client, link).status_code == 429
    # Expired pages no longer count (the link itself is still within the window).
    clock.advance(60)
    open_form(client, link)
    assert page_code(submit(client, attempts[1])) == "EXPIRED_LOGIN_ATTEMPT"


def test_login_attempts_are_capped_oldest_first(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, max_login_attempts=20)
    client = connect(sandbox)
    first = open_form(client, link_params(clock))
    attempts = [open_form(client, link_params(clock, offset=i % 200)) for i in range(1, 300)]
    counts = sandbox.record_counts()
    assert counts["login_attempts"] == 20
    assert counts["login_links"] <= 20
    assert page_code(submit(client, first)) == "INVALID_LOGIN_ATTEMPT"
    assert submit(client, attempts[-1]).status_code == 302


def test_expired_login_attempts_are_forgotten(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, login_page_ttl=60)
    client = connect(sandbox)
    attempts = [open_form(client, link_params(clock, offset=i)) for i in range(30)]
    clock.advance(60 + RETENTION - 1)
    assert sandbox.record_counts()["login_attempts"] == 30
    # Within the retention the precise answer stays (and that attempt is dropped).
    assert page_code(submit(client, attempts[0])) == "EXPIRED_LOGIN_ATTEMPT"
    clock.advance(1)
    assert sandbox.record_counts()["login_attempts"] == 0
    assert sandbox.record_counts()["login_links"] == 0
    assert page_code(submit(client, attempts[1])) == "INVALID_LOGIN_ATTEMPT"


def test_a_flood_of_login_pages_leaves_tokens_and_sessions_alone(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, max_login_attempts=10, max_temp_tokens=10, max_sessions=10)
    client = connect(sandbox)
    session = direct_login(client, clock)
    token = sandbox.issue_temp_token("bob")
    for i in range(200):
        open_form(client, link_params(clock, offset=i % 100))
    assert sandbox.record_counts()["login_attempts"] == 10
    token_data(refresh(client, clock, session["refreshToken"]))
    token_data(exchange_at(client, clock, token))


# -- temporary tokens ----------------------------------------------------------------------------


def test_temp_tokens_are_capped_oldest_first(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, max_temp_tokens=25)
    client = connect(sandbox)
    tokens = [sandbox.issue_temp_token("alice") for _ in range(1000)]
    assert sandbox.record_counts()["temp_tokens"] == 25
    envelope_of(exchange_at(client, clock, tokens[0]), 401, "INVALID_TEMPORAL_TOKEN")
    envelope_of(exchange_at(client, clock, tokens[-26]), 401, "INVALID_TEMPORAL_TOKEN")
    token_data(exchange_at(client, clock, tokens[-25]))
    token_data(exchange_at(client, clock, tokens[-1]))


def test_temp_tokens_at_the_default_cap(clock: FakeClock) -> None:
    sandbox = make_sandbox(clock)
    for _ in range(10_500):
        sandbox.issue_temp_token("alice")
    assert sandbox.record_counts()["temp_tokens"] == 10_000


def test_temp_tokens_from_the_login_form_are_capped(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, max_temp_tokens=5)
    client = connect(sandbox)
    for i in range(40):
        assert submit(client, open_form(client, link_params(clock, offset=i))).status_code == 302
    assert sandbox.record_counts()["temp_tokens"] == 5
    assert sandbox.record_counts()["login_attempts"] == 0


def test_expired_temp_tokens_are_forgotten(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock)
    client = connect(sandbox)
    tokens = [sandbox.issue_temp_token("alice") for _ in range(30)]
    clock.advance(60 + RETENTION - 1)
    assert sandbox.record_counts()["temp_tokens"] == 30
    envelope_of(exchange_at(client, clock, tokens[0]), 401, "EXPIRED_TEMPORAL_TOKEN")
    clock.advance(1)
    assert sandbox.record_counts()["temp_tokens"] == 0
    envelope_of(exchange_at(client, clock, tokens[1]), 401, "INVALID_TEMPORAL_TOKEN")


# -- sessions ------------------------------------------------------------------------------------


def test_a_flood_of_ended_sessions_never_evicts_a_running_one(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, max_sessions=10)
    client = connect(sandbox)
    alice = direct_login(client, clock)  # the oldest session, and running
    for _ in range(200):
        bob = direct_login(client, clock, "bob")
        logout(client, clock, bob["accessToken"])
    counts = sandbox.record_counts()
    assert counts["sessions"] == 10
    assert counts["ended_sessions"] == 9
    assert counts["refresh_tokens"] == 1
    token_data(refresh(client, clock, alice["refreshToken"]))
    assert [s.active for s in sandbox.sessions_for("alice")] == [True]


def test_an_expired_session_is_evicted_before_an_older_running_one(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, max_sessions=2, refresh_token_ttl=100)
    client = connect(sandbox)
    older = direct_login(client, clock)
    clock.advance(10)
    younger = direct_login(client, clock, "bob")
    clock.advance(10)
    older = token_data(refresh(client, clock, older["refreshToken"]))  # now expires at +120
    clock.advance(95)  # younger expired at +110 (not logged out); older still runs
    direct_login(client, clock, "bob")
    envelope_of(refresh(client, clock, younger["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    token_data(refresh(client, clock, older["refreshToken"]))


def test_a_flood_of_running_sessions_evicts_the_oldest(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, max_sessions=5)
    client = connect(sandbox)
    sessions = [direct_login(client, clock) for _ in range(6)]
    assert sandbox.record_counts()["sessions"] == 5
    envelope_of(refresh(client, clock, sessions[0]["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    for session in sessions[1:]:
        token_data(refresh(client, clock, session["refreshToken"]))


def test_ended_sessions_are_shown_for_the_retention_then_forgotten(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock)
    client = connect(sandbox)
    first, second = direct_login(client, clock), direct_login(client, clock)
    logout(client, clock, first["accessToken"])
    clock.advance(200)
    assert sandbox.revoke("alice") == 1
    clock.advance(RETENTION - 200 - 1)
    assert [s.active for s in sandbox.sessions_for("alice")] == [False, False]
    clock.advance(1)
    (left,) = sandbox.sessions_for("alice")
    assert left.refresh_token == second["refreshToken"]
    clock.advance(200)
    assert sandbox.sessions_for("alice") == []
    assert holds_nothing(sandbox)


def test_expired_sessions_answer_expired_for_the_retention_then_invalid(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, refresh_token_ttl=100)
    client = connect(sandbox)
    data = direct_login(client, clock)
    clock.advance(100 + RETENTION - 1)
    envelope_of(refresh(client, clock, data["refreshToken"]), 401, "EXPIRED_REFRESH_TOKEN")
    (session,) = sandbox.sessions_for("alice")
    assert session.active  # expired, not logged out
    clock.advance(1)
    envelope_of(refresh(client, clock, data["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.sessions_for("alice") == []
    assert holds_nothing(sandbox)


def test_expire_session_ends_it_for_the_retention(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock)
    client = connect(sandbox)
    data = direct_login(client, clock)
    assert sandbox.expire_session(data["refreshToken"])
    assert sandbox.record_counts()["ended_sessions"] == 1
    clock.advance(RETENTION)
    assert sandbox.record_counts()["sessions"] == 0


def test_everything_expires_and_is_forgotten_on_the_clock(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, refresh_token_ttl=100, login_page_ttl=100)
    client = connect(sandbox)
    for i in range(300):
        sandbox.issue_temp_token("alice")
        open_form(client, link_params(clock))
        data = direct_login(client, clock)
        if i % 2:
            token_data(refresh(client, clock, data["refreshToken"]))
        clock.advance(1)
    counts = sandbox.record_counts()
    assert (counts["temp_tokens"], counts["login_attempts"], counts["sessions"]) == (300, 300, 300)
    assert counts["retired_refresh_tokens"] == 150
    clock.advance(100 + RETENTION - 2)  # the last ones were made a second ago
    counts = sandbox.record_counts()
    assert [counts[k] for k in ("login_attempts", "sessions", "retired_refresh_tokens")] == [1] * 3
    clock.advance(1)
    assert set(sandbox.record_counts().values()) == {0}


# -- rotated-out refresh tokens ------------------------------------------------------------------


def test_retired_refresh_tokens_are_capped(clock: FakeClock, connect: Any) -> None:
    sandbox = make_sandbox(clock, max_retired_refresh_tokens=10)
    client = connect(sandbox)
    tokens = [direct_login(client, clock)["refreshToken"]]
    for _ in range(100):
        tokens.append(token_data(refresh(client, clock, tokens[-1]))["refreshToken"])
    counts = sandbox.record_counts()
    assert counts["retired_refresh_tokens"] == 10
    assert counts["session_expiries"] <= 2 * counts["sessions"] + 64
    envelope_of(refresh(client, clock, tokens[-2]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1  # still remembered
    envelope_of(refresh(client, clock, tokens[0]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1  # evicted: plainly unknown
    token_data(refresh(client, clock, tokens[-1]))


def test_retired_refresh_tokens_are_forgotten_after_ttl_and_retention(
    clock: FakeClock, connect: Any
) -> None:
    sandbox = make_sandbox(clock, refresh_token_ttl=100)
    client = connect(sandbox)
    first = direct_login(client, clock)["refreshToken"]
    second = token_data(refresh(client, clock, first))["refreshToken"]
    clock.advance(50)
    token_data(refresh(client, clock, second))
    clock.advance(100 + RETENTION - 50 - 1)
    envelope_of(refresh(client, clock, first), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1
    assert sandbox.record_counts()["retired_refresh_tokens"] == 2
    clock.advance(1)
    assert sandbox.record_counts()["retired_refresh_tokens"] == 1
    envelope_of(refresh(client, clock, first), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1
    clock.advance(50)
    assert holds_nothing(sandbox)


def test_the_expiry_queue_stays_bounded_under_rotation(clock: FakeClock) -> None:
    sandbox = make_sandbox(clock, max_retired_refresh_tokens=5)
    token = sandbox.issue_temp_token("alice")
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        refresh_token = token_data(exchange_at(client, clock, token))["refreshToken"]
        for _ in range(500):  # the clock stands still: no entry ever falls due
            refresh_token = token_data(refresh(client, clock, refresh_token))["refreshToken"]
            assert sandbox.record_counts()["session_expiries"] <= 2 + 64
    assert sandbox.record_counts()["retired_refresh_tokens"] == 5
