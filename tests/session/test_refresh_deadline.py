"""The refresh call's own deadline (``refresh_timeout``) on both drivers and both stores.

A refresh slower than ``timeout`` but within ``refresh_timeout`` completes, so the session
survives; requests whose access token is still valid are served it without waiting for the
slow call (async: every request; sync: every request but the one making the call); a request
whose token has expired waits for the call. A refresh slower than ``refresh_timeout`` has an
unknown outcome: its refresh token is never presented again.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from redtrust_middleware import AsyncSessionManager
from redtrust_middleware.session import RefreshNeeded
from redtrust_middleware.stores import MemoryStore

from .conftest import World, make_world

pytestmark = pytest.mark.anyio

LATENCY = 1.0  # Redtrust's answer comes this long after it rotated the refresh token
TIMEOUT = 0.2
REFRESH_TIMEOUT = 5.0


def slow_world(kind: str, refresh_timeout: float = REFRESH_TIMEOUT) -> World:
    return make_world(kind, timeout=TIMEOUT, refresh_timeout=refresh_timeout, connect_retries=0)


async def settled(world: World, handle: str, old_access: str) -> str:
    """Poll (deadline, no fixed sleep) until the slow refresh has landed; the new token."""
    deadline = time.monotonic() + 10 * LATENCY
    while time.monotonic() < deadline:
        session = await world.driver.get(handle)
        assert session is not None
        if session.tokens.access_token != old_access:
            return str(session.tokens.access_token)
        await anyio.sleep(0.05)
    raise AssertionError("the slow refresh never landed")


async def test_valid_tokens_are_served_while_a_slow_refresh_completes(kind: str) -> None:
    world = slow_world(kind)
    handle = await world.sign_in()
    before = await world.driver.get(handle)
    world.clock.advance(270)  # due (leeway 60 s of a 300 s token), still valid
    world.sandbox.latency = LATENCY
    served = await world.driver.concurrently(4, lambda: world.driver.get(handle))
    assert all(s is not None for s in served)
    refreshed = [s for s in served if s.refreshed]
    # Nobody else waited for the slow call: they got the old, still valid, token.
    assert len(refreshed) == (1 if kind.startswith("sync") else 0)  # sync: the caller
    old = before.tokens.access_token
    assert all(s.tokens.access_token == old for s in served if not s.refreshed)
    world.sandbox.latency = 0
    new_access = await settled(world, handle, old)
    world.clock.advance(60)  # past the old token's expiry: the session lives on
    after = await world.driver.get(handle)
    assert after is not None
    assert after.tokens.access_token == new_access
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_an_expired_token_waits_for_the_slow_refresh(kind: str) -> None:
    world = slow_world(kind)
    handle = await world.sign_in()
    world.clock.advance(400)  # expired: there is nothing to serve meanwhile
    world.sandbox.latency = LATENCY
    session = await world.driver.get(handle)
    world.sandbox.latency = 0
    assert session is not None
    assert session.refreshed
    assert world.sandbox.calls["refresh"] == 1


async def test_a_refresh_slower_than_its_own_deadline_is_never_presented_again(
    kind: str,
) -> None:
    world = slow_world(kind, refresh_timeout=0.6)
    handle = await world.sign_in()
    world.clock.advance(270)
    world.sandbox.latency = LATENCY  # longer than the refresh deadline too
    served = await world.driver.get(handle)
    assert served is not None  # the valid token, after `timeout` (async) or 0.6 s (sync)
    assert not served.refreshed
    # Poll until the call has given up (its lock released), then let the token expire.
    lock = world.driver.flows.lock_key(handle)
    deadline = time.monotonic() + 10 * LATENCY
    while world.store.inner.get(lock) is not None:
        assert time.monotonic() < deadline, "the refresh never gave up"
        await anyio.sleep(0.05)
    world.sandbox.latency = 0
    world.clock.advance(40)
    assert await world.driver.get(handle) is None  # one sign-in prompt
    assert await world.driver.get(handle) is None  # and no loop
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0


async def test_no_waiting_shortcut_without_a_longer_deadline(kind: str) -> None:
    """``refresh_timeout == timeout``: requests wait for the call, as they always did."""
    world = slow_world(kind, refresh_timeout=TIMEOUT)
    handle = await world.sign_in()
    world.clock.advance(270)
    flows = world.driver.flows
    assert flows.lock_lease == TIMEOUT + 10.0  # the call's deadline, no retries, 10 s spare
    key = flows.session_key(handle)
    loaded = flows.loaded(handle, key, world.store.inner.get(key))
    assert isinstance(loaded, RefreshNeeded)
    assert loaded.current is not None
    assert flows.serve_meanwhile(loaded) is None
    world.sandbox.latency = 0.5
    served = await world.driver.get(handle)  # waits for the call, which gives up at 0.2 s
    world.sandbox.latency = 0
    assert served is not None
    assert not served.refreshed
    assert world.store.inner.get(flows.lock_key(handle)) is None  # done when it answered


async def test_over_per_request_stores_the_request_making_the_call_waits_to_save_it() -> None:
    """A face whose browser records live in a per-request store (Django's session): the
    request whose own task calls Redtrust waits for the answer, so its store gets the new
    tokens before it answers; another request meanwhile is served its still-valid token."""
    world = make_world("async", timeout=TIMEOUT, refresh_timeout=REFRESH_TIMEOUT)
    manager = world.driver.manager
    assert isinstance(manager, AsyncSessionManager)
    handle = await world.sign_in()
    key = manager.flows.session_key(handle)
    record = world.store.inner.get(key)
    assert record is not None

    def browser_copy() -> MemoryStore:
        """What one request holds: its own copy of the browser's session."""
        store = MemoryStore(clock=world.clock)
        store.set(key, record, ttl=3600)
        return store

    first_store, second_store, later_store = browser_copy(), browser_copy(), browser_copy()
    world.clock.advance(270)  # due, still valid
    world.sandbox.latency = LATENCY
    first = asyncio.ensure_future(manager.using(first_store).get(handle))
    await asyncio.sleep(0.05)  # the first request's task is calling Redtrust
    second = await manager.using(second_store).get(handle)
    assert second is not None
    assert not second.refreshed  # served its valid token, not kept waiting for the call
    assert not first.done()  # the first one is still waiting for the answer
    done = await first
    world.sandbox.latency = 0
    assert done is not None
    assert done.refreshed
    assert first_store.get(key) != record  # saved where that request keeps its session
    later = await manager.using(later_store).get(handle)  # an old copy: the grace memo
    assert later is not None
    assert later.tokens.access_token == done.tokens.access_token
    assert world.sandbox.calls["refresh"] == 1
    assert world.sandbox.calls["refresh_reuse"] == 0
