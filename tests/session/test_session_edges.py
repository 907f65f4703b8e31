"""Races, clock skew and odd token data, found by driving the flows step by step."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from redtrust_middleware import RA_API, Store, TokenSet
from redtrust_middleware.session import (
    Effect,
    Refresh,
    RefreshNeeded,
    ReplaceIf,
    SessionFlows,
    SessionRecord,
    Touch,
    adrive,
    drive,
)
from redtrust_middleware.stores.operations import StoreOp, perform
from redtrust_middleware.tokens import parse_expiration

from .conftest import World, make_world

pytestmark = pytest.mark.anyio


def on_store(store: Store, effect: Effect) -> Any:
    """Perform a store effect the way a driver would (any other is not expected here)."""
    assert isinstance(effect, StoreOp), f"not a store effect: {effect!r}"
    return perform(store, effect)


async def test_a_logout_during_a_refresh_is_not_undone(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(270)
    flows: SessionFlows = world.driver.flows
    need = RefreshNeeded(handle=handle, key=flows.session_key(handle))

    async def logging_out_meanwhile(effect: Effect) -> Any:
        if not isinstance(effect, Refresh):  # read, lock ...
            return on_store(world.store.inner, effect)
        fresh = await world.fresh_tokens()
        assert await world.driver.logout(handle)  # the user logs out while Redtrust answers
        return fresh

    assert await adrive(flows.refresh(need), logging_out_meanwhile) is None  # reported ended
    assert world.store.inner.get(need.key) is None
    assert await world.driver.get(handle) is None


async def test_the_idle_touch_never_overwrites_a_newer_record(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(200)  # fresh, but old enough to extend the idle timeout
    flows: SessionFlows = world.driver.flows
    key = flows.key_for(handle)
    assert key is not None
    blob = world.store.inner.get(key)
    decision = flows.loaded(handle, key, blob)
    assert isinstance(decision, Touch)  # the one read, then a rare write
    results: list[Any] = []

    def newer_record_meanwhile(write: Effect) -> Any:
        assert isinstance(write, ReplaceIf)  # a compare-and-set against what was read
        assert write.expected == blob
        world.store.inner.set(key, b"a newer record", ttl=60)
        results.append(on_store(world.store.inner, write))
        return results[-1]

    drive(flows.touch(decision), newer_record_meanwhile)
    assert results == [False]
    assert world.store.inner.get(key) == b"a newer record"


async def test_a_refresh_token_that_does_not_rotate_never_serves_stale_grace(kind: str) -> None:
    world = make_world(
        kind,
        refresh_leeway=10,
        sandbox_options={"rotate_refresh_tokens": False, "access_token_ttl": 30},
    )
    handle = await world.sign_in()
    for _ in range(6):  # refresh every 25 s, each time inside the 60 s grace window
        world.clock.advance(25)
        session = await world.driver.get(handle)
        assert session is not None
        assert session.tokens.expires_in(world.clock()) > 10
    assert world.sandbox.calls["refresh"] == 6


async def test_a_grace_record_from_another_process_is_saved(kind: str) -> None:
    world = make_world(kind)
    other = make_world(
        kind, sandbox=world.sandbox, store=world.store, clock=world.clock, keyring=world.keyring
    )
    handle = await world.sign_in()
    world.clock.advance(290)
    world.store.fail_writes_to = ":session:"  # process A refreshes but cannot save
    served = await world.driver.get(handle)
    assert served is not None
    assert served.refreshed
    world.store.fail_writes_to = None
    seen = await other.driver.get(handle)  # process B finds A's grace record and saves it
    assert seen is not None
    assert seen.tokens.access_token == served.tokens.access_token
    world.clock.advance(120)  # long after the grace records are gone
    later = await other.driver.get(handle)
    assert later is not None
    assert world.sandbox.calls["refresh_reuse"] == 0


@pytest.mark.parametrize("skew", [-290.0, -120.0, 120.0, 290.0])
async def test_clock_skew_within_the_window_changes_nothing(kind: str, skew: float) -> None:
    world = make_world(kind, sandbox_skew=skew)
    handle = await world.sign_in()
    for _ in range(5):
        session = await world.driver.get(handle)
        assert session is not None
        assert 290 <= session.tokens.expires_in(world.clock()) <= 300
    assert world.sandbox.calls["refresh"] == 0
    world.clock.advance(250)
    refreshed = await world.driver.get(handle)
    assert refreshed is not None
    assert refreshed.refreshed
    assert world.sandbox.calls["refresh"] == 1


@pytest.mark.parametrize("skew", [-120.0, 120.0])
async def test_verified_tokens_survive_clock_skew(kind: str, skew: float) -> None:
    world = make_world(kind, sandbox_skew=skew)
    verifying = make_world(
        kind, sandbox=world.sandbox, clock=world.clock, jwks=world.sandbox.jwks()
    )
    handle = await verifying.sign_in()
    session = await verifying.driver.get(handle)
    assert session is not None
    assert session.tokens.subject == "demo"


async def test_tokens_without_a_refresh_token_last_until_expiry(world: World) -> None:
    handle = await world.sign_in()
    key = world.driver.flows.session_key(handle)
    flows: SessionFlows = world.driver.flows
    blob = world.store.inner.get(key)
    record = flows.open_record(key, blob)  # test-only: rewrite the record without refresh
    assert record is not None
    bare = SessionRecord(
        tokens=TokenSet(
            access_token=record.tokens.access_token,
            refresh_token=None,
            expires_at=record.tokens.expires_at,
        ),
        created_at=record.created_at,
        seen_at=record.seen_at,
    )
    world.store.inner.set(key, flows.keyring.seal(bare.to_json(), context=key), ttl=600)
    world.clock.advance(270)  # due: cannot refresh, still valid
    session = await world.driver.get(handle)
    assert session is not None
    assert not session.refreshed
    world.clock.advance(40)  # expired
    assert await world.driver.get(handle) is None
    assert world.sandbox.calls["refresh"] == 0


async def test_a_cancelled_request_does_not_abandon_its_refresh() -> None:
    world = make_world("async")
    handle = await world.sign_in()
    world.clock.advance(310)
    world.sandbox.latency = 0.2
    with anyio.move_on_after(0.05):
        await world.driver.get(handle)  # the client hangs up while Redtrust answers
    world.sandbox.latency = 0
    session = await world.driver.get(handle)
    assert session is not None
    assert world.sandbox.calls["refresh"] == 1
    lock = world.driver.flows.lock_key(handle)
    assert world.store.inner.get(lock) is None


async def test_remote_logout_works_after_the_token_expired(kind: str) -> None:
    world = make_world(kind, profile=RA_API)
    handle = await world.sign_in()
    world.clock.advance(900)  # idle, token long expired, session within its idle timeout
    assert await world.driver.logout(handle)
    assert [s.active for s in world.sandbox.sessions_for("demo")] == [False]


def test_records_round_trip_their_expiry() -> None:
    tokens = TokenSet(
        access_token="a", refresh_token="r", expires_at=parse_expiration("2030-01-01T00:00:00Z")
    )
    record = SessionRecord(tokens=tokens, created_at=1.0, seen_at=2.0)
    again = SessionRecord.from_json(record.to_json())
    assert again is not None
    assert again.tokens.expires_at == tokens.expires_at
    assert SessionRecord.from_json(b"{not json") is None


async def test_logout_after_an_unsaved_refresh_uses_the_new_tokens(kind: str) -> None:
    world = make_world(kind, profile=RA_API)
    handle = await world.sign_in()
    world.clock.advance(290)
    world.store.fail_writes_to = ":session:"  # refreshed upstream, not saved here
    assert await world.driver.get(handle) is not None
    world.store.fail_writes_to = None
    assert await world.driver.logout(handle)
    assert world.sandbox.calls["refresh_reuse"] == 0
    assert world.sandbox.calls["logout"] == 1
    assert [s.active for s in world.sandbox.sessions_for("demo")] == [False]


async def test_a_spent_refresh_token_is_never_presented_even_if_unsaved(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(270)
    world.sandbox.misbehave_next("bad-expiration", endpoint="refresh")
    world.store.fail_writes_to = ":session:"  # and the "spent" mark cannot be saved either
    assert await world.driver.get(handle) is not None
    world.store.fail_writes_to = None
    world.clock.advance(40)
    assert await world.driver.get(handle) is None
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_a_success_status_with_an_error_code_counts_as_spent(world: World) -> None:
    handle = await world.sign_in()
    world.clock.advance(270)
    world.sandbox.misbehave_next("success-with-error-code", endpoint="refresh")
    assert await world.driver.get(handle) is not None
    world.clock.advance(10)
    assert await world.driver.get(handle) is not None  # no second attempt with that token
    assert world.sandbox.calls["refresh"] == 1


async def test_a_natively_cancelled_request_leaves_the_refresh_running() -> None:
    import asyncio

    world = make_world("async")
    handle = await world.sign_in()
    world.clock.advance(310)
    world.sandbox.latency = 0.2
    request = asyncio.ensure_future(world.driver.get(handle))
    await asyncio.sleep(0.05)
    request.cancel()  # what asyncio.wait_for and server disconnects do
    with pytest.raises(asyncio.CancelledError):
        await request
    world.sandbox.latency = 0
    session = await world.driver.get(handle)  # joins or follows the refresh already running
    assert session is not None
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0
    assert world.store.inner.get(world.driver.flows.lock_key(handle)) is None


async def test_the_lock_lease_is_renewed_while_a_slow_refresh_runs(kind: str) -> None:
    world = make_world(kind)
    handle = await world.sign_in()
    world.clock.advance(310)
    world.driver.flows.lock_lease = 0.15  # renewed every 50 ms
    world.sandbox.latency = 0.4
    renewals_before = world.store.writes
    session = await world.driver.get(handle)
    assert session is not None
    assert world.store.writes - renewals_before >= 5  # lock, renewals, grace, save, release
    assert world.sandbox.calls["refresh"] == 1
