"""RedisStore on a Sentinel-watched master (1 master, 1 replica, 3 sentinels, real processes):
a storm of session reads through both session managers while ``SENTINEL FAILOVER`` replaces
the master loses no session and fails no request."""

from __future__ import annotations

import gc
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest
from tests.redis_topologies import SERVICE, SentinelGroup, sentinel_group, wait_for
from tests.session.conftest import FlakyStore, make_world

from redtrust_middleware import SessionManager, StoreError
from redtrust_middleware.stores.redis import RedisStore

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    with sentinel_group() as running:
        yield running


def outcome(call: object) -> str:
    """What one read came to: ``ok``, ``lost`` (no session), ``503`` or the exception type."""
    try:
        result = call() if callable(call) else call
    except StoreError:
        return "503"
    except Exception as error:
        return type(error).__name__
    return "ok" if result is not None else "lost"


async def test_a_failover_during_a_storm_loses_no_session_and_fails_no_request(
    group: SentinelGroup,
) -> None:
    store = RedisStore(url=group.url, prefix="site:")
    try:
        world = make_world("async", store=FlakyStore(store))
        handle = await world.sign_in()
        sync_manager = SessionManager(
            world.config, store=store, keyring=world.keyring, clock=world.clock
        )
        old_master = group.master_port()
        wait_for("the replica to hold the session", group.synced)
        results: Counter[str] = Counter()
        done = threading.Event()

        async def reader() -> None:
            while not done.is_set():
                try:
                    results["ok" if await world.driver.get(handle) is not None else "lost"] += 1
                except StoreError:
                    results["503"] += 1
                except Exception as error:
                    results[type(error).__name__] += 1

        def sync_reader() -> None:
            while not done.is_set():
                results["sync-" + outcome(lambda: sync_manager.get(handle))] += 1

        def failover() -> float:
            started = time.monotonic()
            with group.sentinel() as sentinel:
                sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
            wait_for("a new master", lambda: group.master_port() != old_master, timeout=20)
            wait_for("the old master to follow", lambda: group.role(old_master) == "slave")
            took = time.monotonic() - started
            time.sleep(0.3)  # keep the storm on the new master a moment (bounded)
            done.set()
            return took

        threads = [threading.Thread(target=sync_reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        took = 0.0
        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(reader)
            took = await anyio.to_thread.run_sync(failover)
        for thread in threads:
            thread.join(30)
        assert group.master_port() != old_master
        assert results["ok"] > 0
        assert results["sync-ok"] > 0
        assert set(results) <= {"ok", "sync-ok"}, (results, f"failover took {took:.2f} s")
        assert await world.driver.get(handle) is not None
        assert sync_manager.get(handle) is not None
    finally:
        store.close()
        await store.aclose()


async def test_close_and_aclose_leave_no_connection_to_the_sentinels(
    group: SentinelGroup,
) -> None:
    store = RedisStore(url=group.url, prefix="site:")
    store.set("k", b"v", ttl=60)
    assert await store.aget("k") == b"v"
    store.close()
    await store.aclose()
    del store
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
