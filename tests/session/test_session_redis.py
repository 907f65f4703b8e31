"""Sessions on a real Redis: nothing readable at rest, outages, a killed worker, a restart.

The whole session suite also runs on Redis (the ``*-redis`` kinds of ``conftest.py``); these
tests need what only a real server shows: a dump of every key, a server killed and started
again, a lock lease that runs out in real time, and a new manager on the same data.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
import redis
from tests.stores import redis_dump

from redtrust_middleware import Keyring, StoreError
from redtrust_middleware.session import Effect, Refresh, RefreshNeeded, drive
from redtrust_middleware.stores.redis import RedisStore
from redtrust_middleware.testing import RedisServer

from .conftest import SECRET, FlakyStore, World, make_world
from .test_session_edges import on_store

pytestmark = pytest.mark.anyio

MakeStore = Callable[..., FlakyStore]


class Killed(BaseException):
    """The process dies where this is raised."""


@pytest.fixture(params=["sync-redis", "async-redis"])
def redis_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def own_store(redis_server: RedisServer, anyio_backend: str) -> AsyncIterator[MakeStore]:
    """Stores on this test's own redis-server (which the test may stop), closed afterwards."""
    opened: list[RedisStore] = []

    def make(prefix: str = "site:", **options: Any) -> FlakyStore:
        store = RedisStore(url=redis_server.url, prefix=prefix, **options)
        opened.append(store)
        return FlakyStore(store)

    yield make
    for store in opened:
        store.close()
        await store.aclose()


def world_on(kind: str, store: FlakyStore, **options: Any) -> World:
    return make_world(kind.removesuffix("-redis"), store=store, **options)


async def test_a_redis_dump_holds_no_token_handle_or_nonce(
    redis_kind: str, redis_server: RedisServer, own_store: MakeStore
) -> None:
    world = world_on(redis_kind, own_store())
    start, query = await world.start_and_authenticate()
    done = await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    first = await world.driver.get(done.handle)
    in_flight = await world.driver.begin_login(next_url="/x", callback_url=world.callback)
    world.clock.advance(290)  # inside the leeway: refreshed, with a grace record written
    refreshed = await world.driver.get(done.handle)
    assert first is not None
    assert refreshed is not None
    assert refreshed.refreshed
    assert world.sandbox.calls["refresh"] == 1

    dump = redis_dump(redis_server.url)
    kinds = {key.split(b":")[2] for key in dump}
    assert {b"session", b"pending", b"grace"} <= kinds  # the records are there, sealed
    secrets_ = [
        first.tokens.access_token,
        first.tokens.refresh_token or "",
        refreshed.tokens.access_token,
        refreshed.tokens.refresh_token or "",
        done.handle,
        start.browser_nonces[-1],
        in_flight.browser_nonces[-1],
        SECRET,
        "demo",  # the user's name, inside the claims
    ]
    everything = b"\n".join(key + b"=" + value for key, value in dump.items())
    for secret in filter(None, secrets_):
        assert secret.encode() not in everything, secret[:8]
        if len(secret) >= 16:
            assert secret[:16].encode() not in everything


async def test_redis_down_is_a_store_error_and_every_session_survives(
    redis_kind: str, redis_server: RedisServer, own_store: MakeStore
) -> None:
    world = world_on(redis_kind, own_store())
    handles = [await world.sign_in() for _ in range(3)]
    dump = redis_dump(redis_server.url)
    redis_server.stop()
    for handle in handles:
        with pytest.raises(StoreError) as caught:
            await world.driver.get(handle)
        assert caught.value.http_status == 503
        assert handle not in str(caught.value)
    with pytest.raises(StoreError):
        await world.driver.begin_login(next_url="/", callback_url=world.callback)
    # The data comes back (as from Redis persistence or a replica): nothing was deleted.
    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as raw:
        for key, value in dump.items():
            raw.set(key, value, px=600_000)
    for handle in handles:
        assert await world.driver.get(handle) is not None
    assert world.sandbox.calls["refresh"] == 0


async def test_a_killed_worker_holding_the_refresh_lock_delays_only_its_lease(
    redis_kind: str, own_store: MakeStore
) -> None:
    world = world_on(redis_kind, own_store())
    handle = await world.sign_in()
    # Another worker starts a refresh with a short lease and dies once it holds the lock,
    # just before calling Redtrust: its lock is never released.
    dead = world_on(
        redis_kind,
        world.store,
        sandbox=world.sandbox,
        clock=world.clock,
        keyring=world.keyring,
    )
    dead.driver.flows.lock_lease = 0.3
    world.clock.advance(310)  # expired: requests must wait for a refresh
    key = dead.driver.flows.session_key(handle)

    def dying_before_the_call(effect: Effect) -> Any:
        if isinstance(effect, Refresh):
            raise Killed  # not an Exception: the flow is closed, nothing releases its lock
        return on_store(world.store.inner, effect)

    with pytest.raises(Killed):
        drive(
            dead.driver.flows.refresh(RefreshNeeded(handle=handle, key=key)), dying_before_the_call
        )
    lock_key = world.driver.flows.lock_key(handle)
    assert world.store.inner.get(lock_key) is not None

    session = await world.driver.get(handle)  # polls in real time until the lease runs out
    assert session is not None
    assert session.refreshed
    assert world.sandbox.calls["refresh"] == 1
    assert world.store.inner.get(lock_key) is None  # the live worker released its own lock


async def test_a_restarted_app_keeps_every_session(redis_kind: str, own_store: MakeStore) -> None:
    world = world_on(redis_kind, own_store())
    handles = [await world.sign_in() for _ in range(3)]
    # A new process: new manager, new store object, new keyring object with the same keys.
    restarted = world_on(
        redis_kind,
        own_store(),
        sandbox=world.sandbox,
        clock=world.clock,
        keyring=Keyring(["k" * 32]),
    )
    for handle in handles:
        session = await restarted.driver.get(handle)
        assert session is not None
        assert session.tokens.subject == "demo"
    world.clock.advance(290)
    assert (await restarted.driver.get(handles[0])) is not None  # and it refreshes them
    assert world.sandbox.calls["refresh"] == 1


async def test_rotating_encryption_keys_keeps_sessions(
    redis_kind: str, own_store: MakeStore
) -> None:
    world = world_on(redis_kind, own_store())
    handle = await world.sign_in()
    rotated = world_on(
        redis_kind,
        own_store(),
        sandbox=world.sandbox,
        clock=world.clock,
        keyring=Keyring(["n" * 32, "k" * 32]),  # the new key seals, the old one still opens
    )
    assert await rotated.driver.get(handle) is not None
    world.clock.advance(290)
    assert await rotated.driver.get(handle) is not None  # refreshed: sealed with the new key
    retired = world_on(
        redis_kind,
        own_store(),
        sandbox=world.sandbox,
        clock=world.clock,
        keyring=Keyring(["n" * 32]),
    )
    assert await retired.driver.get(handle) is not None
    stranger = world_on(
        redis_kind,
        own_store(),
        sandbox=world.sandbox,
        clock=world.clock,
        keyring=Keyring.ephemeral(),
    )
    assert await stranger.driver.get(handle) is None  # unknown key: signed out, not a 500


async def test_a_slow_redis_is_a_store_error_and_the_session_survives(
    redis_kind: str, redis_server: RedisServer, own_store: MakeStore
) -> None:
    world = world_on(redis_kind, own_store(socket_timeout=0.2))
    handle = await world.sign_in()
    with redis.Redis.from_url(redis_server.url) as control:
        control.client_pause(1000)  # Redis holds every command for 1 s
        started = time.monotonic()
        with pytest.raises(StoreError, match="timed out"):
            await world.driver.get(handle)
        assert time.monotonic() - started < 0.9
    deadline = time.monotonic() + 5
    while True:
        try:
            session = await world.driver.get(handle)
            break
        except StoreError:
            assert time.monotonic() < deadline
            await anyio.sleep(0.01)
    assert session is not None
