"""The session lifecycle against the sandbox, the same cases through both drivers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import pytest

from redtrust_middleware import (
    RA_API,
    InvalidCallbackError,
    LoginExpiredError,
    MemoryStore,
    RefreshFailedError,
    StoreError,
)
from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.session import ActiveSession

from .conftest import APP, SECRET, SuiteClock, World, make_world

pytestmark = pytest.mark.anyio


async def test_full_login_through_the_sandbox_page(world: World) -> None:
    start = await world.driver.begin_login(next_url="/certs?a=1%2F2", callback_url=world.callback)
    location = world.sign_in_on_page(start.url, "demo", "demo")
    assert location.startswith(world.callback + "?state=")
    done = await world.driver.complete_login(
        query=location.split("?", 1)[1], browser_nonces=start.browser_nonces
    )
    assert done.next_url == "/certs?a=1%2F2"
    assert done.browser_nonces == ()
    session = await world.driver.get(done.handle)
    assert session is not None
    assert session.tokens.subject == "demo"
    assert world.sandbox.calls["exchange"] == 1


async def test_the_login_url_is_signed_with_a_fresh_timestamp(world: World) -> None:
    start = await world.driver.begin_login(next_url=None, callback_url=world.callback)
    query = dict(p.split("=", 1) for p in start.url.split("?", 1)[1].split("&"))
    assert query["timestamp"] == str(int(world.clock()))
    world.clock.advance(7)
    later = await world.driver.begin_login(next_url=None, callback_url=world.callback)
    assert f"timestamp={int(world.clock())}" in later.url


async def test_a_fresh_token_costs_no_call_and_no_write(world: World) -> None:
    handle = await world.sign_in()
    writes = world.store.writes
    for _ in range(5):
        session = await world.driver.get(handle)
        assert session is not None
        assert not session.refreshed
    assert world.sandbox.calls["refresh"] == 0
    assert world.store.writes == writes


async def test_refresh_happens_inside_the_leeway_once(world: World) -> None:
    handle = await world.sign_in()
    first = await world.driver.get(handle)
    assert first is not None
    world.clock.advance(first.tokens.expires_in(world.clock()) - 30)
    refreshed = await world.driver.get(handle)
    assert refreshed is not None
    assert refreshed.refreshed
    assert refreshed.tokens.access_token != first.tokens.access_token
    assert refreshed.tokens.refresh_token != first.tokens.refresh_token
    again = await world.driver.get(handle)
    assert again is not None
    assert again.tokens.access_token == refreshed.tokens.access_token
    assert world.sandbox.calls["refresh"] == 1


async def test_an_expired_token_is_refreshed_before_use(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(900)  # well past expiry, within the idle timeout
    session = await world.driver.get(handle)
    assert session is not None
    assert session.tokens.expires_in(world.clock()) > 60


async def test_concurrent_requests_on_an_expiring_session_refresh_once(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(290)
    world.sandbox.latency = 0.05
    results = await world.driver.concurrently(50, lambda: world.driver.get(handle))
    tokens = {r.tokens.access_token for r in results if isinstance(r, ActiveSession)}
    assert len(results) == 50
    assert len(tokens) == 1
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_two_processes_sharing_a_store_refresh_once(world: World) -> None:
    other = make_world(
        world.kind,
        sandbox=world.sandbox,
        store=world.store,
        clock=world.clock,
        keyring=world.keyring,
    )
    handle = await world.sign_in()
    world.clock.advance(310)  # expired: nobody may serve the old token, all wait for one refresh
    world.sandbox.latency = 0.05

    async def both() -> list[Any]:
        first = world.driver.concurrently(10, lambda: world.driver.get(handle))
        second = other.driver.concurrently(10, lambda: other.driver.get(handle))
        out: list[Any] = []
        async with anyio.create_task_group() as group:

            async def collect(job: Any) -> None:
                out.extend(await job)

            group.start_soon(collect, first)
            group.start_soon(collect, second)
        return out

    results = await both()
    assert len(results) == 20
    assert len({r.tokens.access_token for r in results}) == 1
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_a_replayed_callback_starts_again(world: World) -> None:
    start, query = await world.start_and_authenticate()
    await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    with pytest.raises(LoginExpiredError) as caught:
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert caught.value.code == "LOGIN_EXPIRED"
    assert caught.value.http_status == 400
    assert world.sandbox.calls["exchange"] == 1


async def test_a_concurrent_double_callback_exchanges_once(world: World) -> None:
    start, query = await world.start_and_authenticate()

    async def complete() -> Any:
        try:
            return await world.driver.complete_login(
                query=query, browser_nonces=start.browser_nonces
            )
        except LoginExpiredError as error:
            return error

    results = await world.driver.concurrently(2, complete)
    assert sum(isinstance(r, LoginExpiredError) for r in results) == 1
    assert world.sandbox.calls["exchange"] == 1


async def test_callback_without_a_pending_login_in_this_browser(world: World) -> None:
    _, query = await world.start_and_authenticate()
    before = len(world.store.snapshot())
    with pytest.raises(LoginExpiredError) as caught:
        await world.driver.complete_login(query=query, browser_nonces=())
    assert caught.value.code == "NO_PENDING_LOGIN"
    other = await world.driver.begin_login(next_url=None, callback_url=world.callback)
    with pytest.raises(LoginExpiredError) as foreign:
        await world.driver.complete_login(query=query, browser_nonces=other.browser_nonces[-1:])
    assert foreign.value.code == "FOREIGN_LOGIN"
    assert world.sandbox.calls["exchange"] == 0
    assert len(world.store.snapshot()) == before + 1  # only the second login start wrote


@pytest.mark.parametrize(
    "mangle",
    [
        lambda q: q.replace("tkn=", "TKN="),
        lambda q: q.split("&tkn=")[0] + "&tkn=",
        lambda q: q.split("&tkn=")[0],
        lambda q: q + "&tkn=other",
        lambda q: q.split("&tkn=")[0] + "&tkn=" + "a" * 1025,
        lambda q: q + "%00",
        lambda q: q.split("&tkn=")[0] + "&tkn=%3Cscript%3E",
        lambda q: q.split("&tkn=")[0] + "&tkn=%ff%fe",
    ],
    ids=["TKN", "empty", "missing", "duplicated", "oversized", "nul", "markup", "bad-utf8"],
)
async def test_a_bad_callback_is_a_400_and_changes_nothing(
    world: World, mangle: Callable[[str], str]
) -> None:
    start, query = await world.start_and_authenticate()
    snapshot = world.store.snapshot()
    with pytest.raises(InvalidCallbackError) as caught:
        await world.driver.complete_login(query=mangle(query), browser_nonces=start.browser_nonces)
    assert caught.value.http_status == 400
    assert world.store.snapshot() == snapshot
    assert world.sandbox.calls["exchange"] == 0
    done = await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert await world.driver.get(done.handle) is not None


async def test_an_expired_pending_login_starts_again(world: World) -> None:
    start, query = await world.start_and_authenticate()
    world.clock.advance(601)
    with pytest.raises(LoginExpiredError):
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert world.sandbox.calls["exchange"] == 0


async def test_a_foreign_or_used_tkn_is_refused_by_redtrust(world: World) -> None:
    start = await world.driver.begin_login(next_url=None, callback_url=world.callback)
    query = f"state={start.browser_nonces[-1]}&tkn=not-a-token-redtrust-issued"
    with pytest.raises(LoginExpiredError) as caught:
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert caught.value.code == "EXCHANGE_REJECTED"


async def test_transient_refresh_failure_serves_the_valid_token(world: World) -> None:
    handle = await world.sign_in()
    first = await world.driver.get(handle)
    assert first is not None
    world.clock.advance(270)
    world.sandbox.fail_next(1, 503, endpoint="refresh")
    served = await world.driver.get(handle)
    assert served is not None
    assert served.tokens.access_token == first.tokens.access_token
    assert not served.refreshed
    world.clock.advance(6)  # past the cool-down
    refreshed = await world.driver.get(handle)
    assert refreshed is not None
    assert refreshed.refreshed


async def test_transient_failure_with_an_expired_token_is_a_503(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(400)
    world.sandbox.fail_next(1, 503, endpoint="refresh")
    with pytest.raises(RefreshFailedError) as caught:
        await world.driver.get(handle)
    assert caught.value.http_status == 503
    assert caught.value.retry_after >= 1
    with pytest.raises(RefreshFailedError):  # cooling down: no new call
        await world.driver.get(handle)
    assert world.sandbox.calls["refresh"] == 1
    world.clock.advance(6)
    assert await world.driver.get(handle) is not None


async def test_a_lost_refresh_answer_is_not_retried_blindly(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(270)  # due, still valid
    world.sandbox.drop_next(1, endpoint="refresh")  # rotated upstream, answer lost
    first = await world.driver.get(handle)
    assert first is not None  # the still-valid token is served, the session kept
    assert not first.refreshed
    assert await world.driver.get(handle) is not None  # possibly spent: no second attempt
    assert world.sandbox.calls["refresh"] == 1
    world.clock.advance(40)  # expired: the spent refresh token is never presented again
    assert await world.driver.get(handle) is None  # one clear sign-in prompt
    assert await world.driver.get(handle) is None  # and no loop
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


@pytest.mark.parametrize("expired", [False, True], ids=["valid", "expired"])
async def test_a_refresh_slower_than_the_timeout_is_never_presented_again(
    kind: str, expired: bool
) -> None:
    """The request reached Redtrust, the answer came too late: it may have rotated."""
    # Signed in with the usual timeouts (a busy machine may take 0.2 s to answer the
    # exchange); the same session then served by a manager whose refresh times out first.
    signed_in = make_world(kind)
    handle = await signed_in.sign_in()
    world = make_world(
        kind,
        sandbox=signed_in.sandbox,
        store=signed_in.store,
        clock=signed_in.clock,
        keyring=signed_in.keyring,
        timeout=0.2,
        refresh_timeout=0.2,
        connect_retries=0,
    )
    world.clock.advance(400 if expired else 270)
    world.sandbox.latency = 0.5
    served = await world.driver.get(handle)
    world.sandbox.latency = 0
    if expired:
        assert served is None  # one clear sign-in prompt
        assert world.store.inner.get(world.driver.flows.session_key(handle)) is None
    else:
        assert served is not None  # the still-valid token is served
        assert not served.refreshed
        world.clock.advance(40)  # now expired: sign in, never a second presentation
        assert await world.driver.get(handle) is None
    assert await world.driver.get(handle) is None  # no loop
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_a_redtrust_outage_keeps_the_session_until_it_is_back(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(400)
    world.sandbox.fail_next(3, 503)
    with pytest.raises(RefreshFailedError):
        await world.driver.get(handle)
    world.clock.advance(6)
    with pytest.raises(RefreshFailedError):
        await world.driver.get(handle)
    world.clock.advance(6)
    with pytest.raises(RefreshFailedError):
        await world.driver.get(handle)
    world.clock.advance(6)
    session = await world.driver.get(handle)  # back: the same session goes on
    assert session is not None
    assert session.refreshed


async def test_an_unusable_refresh_answer_never_replays_the_rotated_token(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(400)
    world.sandbox.misbehave_next("bad-expiration", endpoint="refresh")
    assert await world.driver.get(handle) is None
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


@pytest.mark.parametrize("status", [429, 404, 408, 500, 502])
async def test_refresh_errors_that_are_not_a_rejection_keep_the_session(
    world: World, status: int
) -> None:
    handle = await world.sign_in()
    world.clock.advance(270)
    world.sandbox.fail_next(1, status, endpoint="refresh")
    served = await world.driver.get(handle)
    assert served is not None
    assert not served.refreshed
    world.clock.advance(6)
    refreshed = await world.driver.get(handle)
    assert refreshed is not None
    assert refreshed.refreshed


async def test_a_signature_refusal_on_refresh_is_not_a_sign_out(kind: str) -> None:
    clock, skew = SuiteClock(), [0.0]
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": SECRET}, users={"demo": "demo"}, redirect_prefixes=(APP + "/",)
        ),
        clock=lambda: clock() + skew[0],
    )
    world = make_world(kind, sandbox=sandbox, clock=clock)
    handle = await world.sign_in()
    world.clock.advance(270)
    skew[0] = 1000  # Redtrust's clock jumps: it answers STALE_TIMESTAMP
    served = await world.driver.get(handle)
    assert served is not None  # a configuration or clock problem never signs users out
    assert not served.refreshed
    assert world.sandbox.calls["refresh"] == 1
    skew[0] = 0
    world.clock.advance(6)
    again = await world.driver.get(handle)
    assert again is not None
    assert again.refreshed


async def test_a_rejected_refresh_ends_the_session(world: World) -> None:
    handle = await world.sign_in()
    world.sandbox.revoke("demo")
    world.clock.advance(400)
    assert await world.driver.get(handle) is None
    assert world.store.inner.get(world.driver.flows.session_key(handle)) is None


async def test_logout_ends_the_session(world: World) -> None:
    handle = await world.sign_in()
    assert await world.driver.logout(handle) is True
    assert await world.driver.get(handle) is None
    assert await world.driver.logout(handle) is False
    assert world.sandbox.calls["logout"] == 0  # certificate-enroll: local only


async def test_logout_in_the_ra_api_profile_ends_it_remotely(kind: str) -> None:
    world = make_world(kind, profile=RA_API)
    handle = await world.sign_in()
    session = await world.driver.get(handle)
    assert session is not None
    assert await world.driver.logout(handle)
    assert world.sandbox.calls["logout"] == 1
    assert [s.active for s in world.sandbox.sessions_for("demo")] == [False]


async def test_a_new_login_replaces_the_previous_session(world: World) -> None:
    old = await world.sign_in()
    start, query = await world.start_and_authenticate()
    done = await world.driver.complete_login(
        query=query, browser_nonces=start.browser_nonces, previous_handle=old
    )
    assert done.handle != old
    assert await world.driver.get(old) is None
    assert await world.driver.get(done.handle) is not None


async def test_the_store_holds_no_token_handle_or_nonce(world: World) -> None:
    start, query = await world.start_and_authenticate()
    done = await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    session = await world.driver.get(done.handle)
    assert session is not None
    secrets_ = [
        session.tokens.access_token,
        session.tokens.refresh_token or "",
        done.handle,
        start.browser_nonces[-1],
        SECRET,
    ]
    dump = b"".join(k.encode() + v for k, v in world.store.snapshot().items())
    for secret in secrets_:
        assert secret.encode() not in dump
        assert secret[:16].encode() not in dump
    assert repr(session).count(session.tokens.access_token) == 0


async def test_a_tampered_record_reads_as_signed_out(world: World) -> None:
    handle = await world.sign_in()
    key = next(k for k in world.store.snapshot() if ":session:" in k)
    blob = world.store.inner.get(key)
    assert blob is not None
    world.store.inner.set(key, blob[:-1] + bytes([blob[-1] ^ 1]), ttl=60)
    assert await world.driver.get(handle) is None


async def test_malformed_handles_touch_nothing(world: World) -> None:
    reads = world.store.reads
    for handle in (None, "", "x", "a" * 42, "a" * 44, "../" * 15, "é" * 43):
        assert await world.driver.get(handle) is None
    assert world.store.reads == reads


async def test_idle_and_absolute_timeouts(kind: str) -> None:
    world = make_world(kind, idle_timeout=600, absolute_timeout=3600)
    handle = await world.sign_in()
    world.clock.advance(601)
    assert await world.driver.get(handle) is None
    handle = await world.sign_in()
    for step in range(7):  # active every 500 s: idle never trips, the absolute limit does
        world.clock.advance(500)
        assert await world.driver.get(handle) is not None, step
    world.clock.advance(500)
    assert await world.driver.get(handle) is None


async def test_store_down_is_a_store_error(world: World) -> None:
    handle = await world.sign_in()
    world.store.down = True
    with pytest.raises(StoreError):
        await world.driver.get(handle)
    world.store.down = False
    assert await world.driver.get(handle) is not None


async def test_exchange_ok_but_store_write_failed(world: World) -> None:
    start, query = await world.start_and_authenticate()
    world.store.fail_writes_to = ":session:"
    with pytest.raises(StoreError):
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    world.store.fail_writes_to = None
    with pytest.raises(LoginExpiredError):  # the replay exchanges nothing
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert world.sandbox.calls["exchange"] == 1


async def test_refresh_ok_but_store_write_failed(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(290)
    world.store.fail_writes_to = ":session:"
    served = await world.driver.get(handle)
    assert served is not None
    assert served.refreshed
    world.store.fail_writes_to = None
    again = await world.driver.get(handle)
    assert again is not None
    assert again.tokens.access_token == served.tokens.access_token
    assert world.sandbox.calls["refresh"] == 1
    world.clock.advance(10)
    assert (await world.driver.get(handle)) is not None
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


def lock_held_until(world: World, key: str, owner: bytes, deadline: float) -> None:
    """Leave a lock held by a dead worker, lapsing when the fake clock reaches ``deadline``.

    A MemoryStore expires it by the fake clock itself. A real Redis also counts the real time
    the test takes, so there the lock is kept for an hour of real time and taken away once
    the fake clock reaches ``deadline``: the test counts fake time only.
    """
    store = world.store.inner
    if isinstance(store, MemoryStore):
        store.set(key, owner, ttl=deadline - world.clock())
        return
    store.set(key, owner, ttl=3600)

    def lapse(_: float) -> None:
        if world.clock() >= deadline:
            store.delete_if(key, owner)  # only the dead worker's: a no-op once it is gone

    world.clock.followers.append(lapse)


async def test_a_dead_lock_holder_delays_only_until_its_lease_expires(kind: str) -> None:
    # Waiting lets time pass instantly; a 40 s lease (10 s refresh deadline, two retries).
    world = make_world(kind, fake_sleep=True, refresh_timeout=10)
    handle = await world.sign_in()
    world.clock.advance(310)  # expired: the request must wait for the lock
    flows = world.driver.flows
    started = world.clock()
    lock_held_until(world, flows.lock_key(handle), b"killed-worker", started + flows.lock_lease)
    session = await world.driver.get(handle)
    assert session is not None
    assert session.refreshed
    assert world.sandbox.calls["refresh"] == 1
    assert flows.lock_lease <= world.clock() - started <= flows.lock_lease + 1


async def test_a_busy_lock_serves_a_still_valid_token_at_once(kind: str) -> None:
    world = make_world(kind, fake_sleep=True)
    handle = await world.sign_in()
    world.clock.advance(270)  # due but valid
    flows = world.driver.flows
    world.store.inner.set(flows.lock_key(handle), b"other-worker", ttl=flows.lock_lease)
    started = world.clock()
    session = await world.driver.get(handle)
    assert session is not None
    assert not session.refreshed
    assert world.clock() == started  # no waiting
    assert world.sandbox.calls["refresh"] == 0


def test_keys_hash_the_handle() -> None:
    world = make_world("sync")
    key = world.driver.flows.session_key("h" * 43)
    assert key == "redtrust:session:" + hashlib.sha256(b"h" * 43).hexdigest()


def test_records_never_show_tokens_in_repr() -> None:
    world = make_world("sync")
    handle = anyio.run(world.sign_in)
    session = anyio.run(world.driver.get, handle)
    assert session is not None
    text = repr(replace(session, refreshed=True))
    assert session.tokens.access_token not in text
    assert handle not in text
