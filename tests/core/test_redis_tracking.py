"""RedisStore's client-side cache against a real redis-server: hits send no command, every
write anywhere is seen, a read racing its own invalidation is never kept, an expired key is
never served, a lost listener turns the cache off and back on, and nothing leaks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redtrust_middleware import ConfigurationError
from redtrust_middleware.stores import NOT_LOCAL, RedisStore
from redtrust_middleware.stores._tracking import TrackedReads
from redtrust_middleware.testing import RedisServer

KEY = "redtrust:session:0123abcd"
OTHER_KEY = "redtrust:pending:0123abcd"
VALUE = b"sealed-bytes-of-a-session"
WAIT = 5.0  # seconds any wait for the listener may take before the test fails


# INFO (the count's own) and PING (the listener's probe of a quiet connection, every 0.5 s
# whatever the requests) are not sent by requests.
_NOT_REQUESTS = ("cmdstat_info", "cmdstat_ping")


def commands(client: redis.Redis) -> int:
    """Commands the server has run, not counting the INFO that asks."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items() if name not in _NOT_REQUESTS)


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as client:
        yield client


def cached_store(server: RedisServer, **options: Any) -> RedisStore:
    store = RedisStore(url=server.url, client_cache=True, socket_timeout=0.5, **options)
    assert store.tracked is not None
    assert store.tracked.wait_live(WAIT)
    return store


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:
    store = cached_store(redis_server, prefix="app1:")
    yield store
    store.close()


@pytest.fixture
def other(redis_server: RedisServer) -> Iterator[RedisStore]:
    """Another worker's store on the same Redis."""
    store = cached_store(redis_server, prefix="app1:")
    yield store
    store.close()


def settle(store: RedisStore) -> None:
    """Wait until ``store``'s listener handled every invalidation of writes made so far:
    a write's invalidation may reach it after a later read filled the cache, and drop it."""
    assert store.tracked is not None
    barrier = f"redtrust:session:barrier-{next(BARRIERS)}"
    store.set(barrier, b"-", ttl=3600)  # its expiry would be an invalidation of its own
    assert store.tracked.wait_invalidated(barrier, WAIT), "the barrier was not invalidated"


BARRIERS = itertools.count()


def seen(store: RedisStore, count: int) -> None:
    """Wait until ``store``'s listener handled ``count`` invalidations in all."""
    assert store.tracked is not None
    assert store.tracked.wait_invalidations(count, WAIT), "no invalidation arrived"


def test_a_hit_sends_no_command(store: RedisStore, raw: redis.Redis) -> None:
    store.set(KEY, VALUE, ttl=60)
    assert store.read_local(KEY) is NOT_LOCAL  # own writes are not kept: read again
    settle(store)
    read = store.get(KEY)
    assert read == VALUE
    before = commands(raw)
    for _ in range(1000):
        assert store.read_local(KEY) is read  # the same bytes object, for the fast path
    assert commands(raw) - before == 0


def test_without_the_cache_the_store_offers_no_local_reads(redis_server: RedisServer) -> None:
    store = RedisStore(url=redis_server.url)
    try:
        assert store.tracked is None
        assert not hasattr(store, "read_local")
    finally:
        store.close()


def test_only_the_tracked_prefix_is_kept(store: RedisStore) -> None:
    store.set(OTHER_KEY, VALUE, ttl=60)
    assert store.get(OTHER_KEY) == VALUE
    assert store.read_local(OTHER_KEY) is NOT_LOCAL


@pytest.mark.parametrize("write", ["set", "delete", "replace_if", "take", "expire", "flush"])
def test_a_write_by_another_worker_drops_the_kept_value(
    store: RedisStore, other: RedisStore, raw: redis.Redis, write: str
) -> None:
    other.set(KEY, VALUE, ttl=60)
    settle(store)
    assert store.get(KEY) == VALUE
    assert store.read_local(KEY) == VALUE
    assert store.tracked is not None
    count = store.tracked.invalidations + 1
    if write == "set":
        other.set(KEY, b"new", ttl=60)
    elif write == "delete":
        other.delete(KEY)
    elif write == "replace_if":
        assert other.replace_if(KEY, VALUE, b"new", ttl=60)
    elif write == "take":
        assert other.take(KEY) == VALUE
    elif write == "expire":
        raw.pexpire("app1:" + KEY, 1)  # a write: invalidated at once, then again when
        seen(store, count)  # Redis deletes the key for its TTL
        count += 1
        while raw.exists("app1:" + KEY):  # an access makes Redis delete it now
            pass
    else:
        raw.flushdb()
    seen(store, count)
    assert store.read_local(KEY) is NOT_LOCAL
    assert store.get(KEY) == (b"new" if write in ("set", "replace_if") else None)


def test_a_read_racing_its_invalidation_is_never_kept(
    store: RedisStore, other: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GET runs before another worker's logout, and its (old) reply is handed back
    only after the logout's invalidation reached this worker: it must not be kept."""
    other.set(KEY, VALUE, ttl=60)
    assert store.tracked is not None
    tracked = store.tracked
    real_execute = redis.client.Pipeline.execute

    def execute_then_logout(pipe: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        replies = real_execute(pipe, *args, **kwargs)  # the old value, read
        count = tracked.invalidations
        other.delete(KEY)  # the logout elsewhere, after the read ran on the server
        assert tracked.wait_invalidations(count + 1, WAIT)
        return replies  # the reply "arrives" after its invalidation

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute_then_logout)
    assert store.get(KEY) == VALUE  # what Redis answered at the time
    monkeypatch.undo()
    assert store.read_local(KEY) is NOT_LOCAL  # but it was not kept
    assert store.get(KEY) is None


def test_an_invalidation_after_the_fill_drops_it(store: RedisStore, other: RedisStore) -> None:
    """The other order: the reply is kept, then the invalidation comes and drops it."""
    other.set(KEY, VALUE, ttl=60)
    settle(store)
    assert store.get(KEY) == VALUE
    assert store.read_local(KEY) == VALUE
    assert store.tracked is not None
    count = store.tracked.invalidations
    other.delete(KEY)
    seen(store, count + 1)
    assert store.read_local(KEY) is NOT_LOCAL


def test_a_kept_value_is_never_served_past_its_ttl(redis_server: RedisServer) -> None:
    now = [1000.0]
    store = RedisStore(url=redis_server.url, client_cache=True)
    try:
        assert store.tracked is not None
        assert store.tracked.wait_live(WAIT)
        store.tracked._clock = lambda: now[0]  # the cache's clock, moved by hand
        store.set(KEY, VALUE, ttl=30)
        settle(store)
        assert store.get(KEY) == VALUE
        now[0] += 29.5
        assert store.read_local(KEY) == VALUE
        now[0] += 0.6  # past the PTTL read with the value, before Redis expired it
        assert store.read_local(KEY) is NOT_LOCAL
    finally:
        store.close()


def test_own_writes_drop_the_value_at_once(store: RedisStore) -> None:
    store.set(KEY, VALUE, ttl=60)
    assert store.get(KEY) == VALUE
    store.delete(KEY)
    assert store.read_local(KEY) is NOT_LOCAL  # before any invalidation arrives


def test_bounded_oldest_fill_goes_first(redis_server: RedisServer) -> None:
    store = cached_store(redis_server, client_cache_entries=3)
    try:
        keys = [f"{KEY}{n}" for n in range(5)]
        for key in keys:
            store.set(key, VALUE, ttl=60)
        settle(store)
        for key in keys:
            store.get(key)
        assert store.tracked is not None
        assert len(store.tracked) == 3
        assert [store.read_local(k) is NOT_LOCAL for k in keys] == [True, True] + [False] * 3
    finally:
        store.close()


def test_a_lost_listener_turns_the_cache_off_then_on_again(
    store: RedisStore, raw: redis.Redis
) -> None:
    store.set(KEY, VALUE, ttl=60)
    settle(store)
    assert store.get(KEY) == VALUE
    tracked = store.tracked
    assert tracked is not None
    raw.client_kill_filter(_type="pubsub")  # the listener's connection dies
    deadline = threading.Event()
    for _ in range(500):
        if not tracked.live:
            break
        deadline.wait(0.01)
    assert store.read_local(KEY) is NOT_LOCAL  # dropped: invalidations may be missed
    assert tracked.wait_live(WAIT)  # reconnected
    assert store.read_local(KEY) is NOT_LOCAL  # and started empty
    assert store.get(KEY) == VALUE
    assert store.read_local(KEY) == VALUE


def test_redis_down_means_one_get_per_read(redis_server: RedisServer) -> None:
    store = cached_store(redis_server)
    try:
        store.set(KEY, VALUE, ttl=60)
        assert store.get(KEY) == VALUE
        redis_server.stop()
        tracked = store.tracked
        assert tracked is not None
        for _ in range(500):
            if not tracked.live:
                break
            threading.Event().wait(0.01)
        assert store.read_local(KEY) is NOT_LOCAL
        redis_server.start()
        assert tracked.wait_live(WAIT)
    finally:
        store.close()


@pytest.mark.anyio
async def test_the_asyncio_face_fills_and_is_invalidated(
    store: RedisStore, other: RedisStore
) -> None:
    try:
        await other.aset(KEY, VALUE, ttl=60)
        await asyncio.to_thread(settle, store)
        read = await store.aget(KEY)
        assert read == VALUE
        assert store.read_local(KEY) is read
        assert store.tracked is not None
        count = store.tracked.invalidations
        await other.adelete(KEY)
        await asyncio.to_thread(seen, store, count + 1)
        assert store.read_local(KEY) is NOT_LOCAL
        assert await store.aget(KEY) is None
    finally:
        await store.aclose()
        await other.aclose()


def test_close_stops_the_listener(redis_server: RedisServer, raw: redis.Redis) -> None:
    store = cached_store(redis_server)
    assert any(t.name == "redtrust-redis-tracking" for t in threading.enumerate())
    store.close()
    assert store.tracked is not None
    assert not store.tracked._thread.is_alive()
    assert not any(c.get("flags", "").find("P") >= 0 for c in raw.client_list())


def test_settings_are_checked(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="client_cache_entries"):
        RedisStore(url=redis_server.url, client_cache=True, client_cache_entries=0)
    with pytest.raises(ConfigurationError, match="REDTRUST_REDIS_CLIENT_CACHE"):
        RedisStore.from_env(
            {"REDTRUST_REDIS_URL": redis_server.url, "REDTRUST_REDIS_CLIENT_CACHE": "maybe"}
        )
    store = RedisStore.from_env(
        {"REDTRUST_REDIS_URL": redis_server.url, "REDTRUST_REDIS_CLIENT_CACHE": "on"}
    )
    try:
        assert isinstance(store.tracked, TrackedReads)
    finally:
        store.close()


# -- two workers behind the ASGI middleware ---------------------------------------------------


@pytest.mark.anyio
async def test_two_workers_serve_hits_without_redis_and_see_a_logout(
    redis_server: RedisServer, raw: redis.Redis
) -> None:
    """Worker B serves a session signed in on worker A from its cache (no command), and
    stops serving it once A signs it out."""
    import httpx2

    from redtrust_middleware.asgi import RedtrustASGIMiddleware
    from redtrust_middleware.testing import (
        TEST_APP_URL,
        asign_in,
        asign_out,
        make_async_manager,
        make_sandbox,
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b"in" if scope.get("redtrust") is not None else b"out"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sandbox = make_sandbox()
    stores = [cached_store(redis_server), cached_store(redis_server)]
    managers = []
    for store in stores:
        manager = make_async_manager(sandbox)
        manager.store = store
        managers.append(manager)
    a, b = (
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(RedtrustASGIMiddleware(app, config=m.config, manager=m)),
            base_url=TEST_APP_URL,
        )
        for m in managers
    )
    try:
        await asign_in(a, sandbox)
        b.cookies = a.cookies
        settle(stores[1])  # the sign-in's writes told to B
        assert (await b.get("/")).text == "in"  # a miss: one GET fills B's cache
        before = commands(raw)
        for _ in range(100):
            assert (await b.get("/")).text == "in"
        assert commands(raw) - before == 0
        tracked = stores[1].tracked
        assert tracked is not None
        count = tracked.invalidations
        await asign_out(a)
        assert tracked.wait_invalidations(count + 1, WAIT)
        assert (await b.get("/")).text == "out"
    finally:
        await a.aclose()
        await b.aclose()
        for manager in managers:
            await manager.aclose()
        for store in stores:
            store.close()
            await store.aclose()


class SilentRelay:
    """A TCP relay to Redis that can go silent: it keeps the connections open but forwards
    nothing more (a dead host or a partition: no FIN, no RST)."""

    def __init__(self, port: int) -> None:
        import socket

        self.target = port
        self.silent = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[Any] = [self.listener]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            if self.closed:  # accepted while closing
                client.close()
                upstream.close()
                return
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if not self.silent.is_set():
                    sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        import socket

        self.closed = True
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pumps and the accept
            sock.close()


def test_a_silent_connection_turns_the_cache_off(
    redis_server: RedisServer, raw: redis.Redis
) -> None:
    """No FIN, no RST, nothing: the listener notices within two PING periods and keeps
    nothing, so a sign-out it cannot hear of is not served past that."""
    relay = SilentRelay(redis_server.port)
    store = RedisStore(url=f"redis://127.0.0.1:{relay.port}/0", client_cache=True)
    try:
        tracked = store.tracked
        assert tracked is not None
        assert tracked.wait_live(WAIT)
        store.set(KEY, VALUE, ttl=60)
        settle(store)
        assert store.get(KEY) == VALUE
        relay.silent.set()
        raw.delete(KEY)  # a sign-out elsewhere, which this listener will never hear of
        stopped = threading.Event()
        for _ in range(500):  # up to 5 s; the listener gives up after about 1 s
            if not tracked.live:
                break
            stopped.wait(0.01)
        assert not tracked.live
        assert store.read_local(KEY) is NOT_LOCAL
    finally:
        store.close()  # the listener first: it would reconnect through the relay
        relay.close()
