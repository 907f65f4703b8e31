"""RedisStore against a real redis-server: keys, real TTLs, configuration, and failures.

The store contract itself (shared with MemoryStore) is in ``test_stores.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis
import redis.asyncio

from redtrust_middleware import ConfigurationError, StoreError
from redtrust_middleware.stores import RedisStore
from redtrust_middleware.testing import RedisServer

KEY = "redtrust:session:0123abcd"
VALUE = b"sealed-bytes-of-a-session"


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client, to look at what the store wrote."""
    with redis.Redis.from_url(redis_server.url) as client:
        yield client


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore(url=redis_server.url, prefix="app1:", socket_timeout=0.3)
    yield store
    store.close()


@pytest.fixture
async def astore(store: RedisStore, anyio_backend: str) -> AsyncIterator[RedisStore]:
    yield store
    await store.aclose()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: object, *, timeout: float = 5.0) -> float:
    """Poll ``condition()`` until true (against a deadline); the seconds it took."""
    assert callable(condition)
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - started


# --- keys and TTLs ---------------------------------------------------------------------------


def test_every_key_is_prefixed_and_has_a_ttl(store: RedisStore, raw: redis.Redis) -> None:
    store.set(KEY, VALUE, ttl=30)
    store.add("redtrust:lock:x", b"owner", ttl=12.5)
    store.set("redtrust:grace:y", b"g", ttl=0.0001)  # rounds up to 1 ms, never to "no TTL"
    assert store.replace_if(KEY, VALUE, b"new", ttl=60) is True
    keys = set(raw.scan_iter())
    assert {b"app1:" + KEY.encode(), b"app1:redtrust:lock:x"} <= keys
    assert all(key.startswith(b"app1:") for key in keys)
    assert 59_000 < raw.pttl(b"app1:" + KEY.encode()) <= 60_000
    assert 12_000 < raw.pttl(b"app1:redtrust:lock:x") <= 12_500
    assert raw.get(b"app1:" + KEY.encode()) == b"new"


def test_stores_with_different_prefixes_do_not_meet(redis_server: RedisServer) -> None:
    first = RedisStore(url=redis_server.url, prefix="app1:")
    second = RedisStore(url=redis_server.url, prefix="app2:")
    first.set(KEY, b"one", ttl=10)
    assert second.get(KEY) is None
    assert second.add(KEY, b"two", ttl=10) is True
    assert (first.get(KEY), second.get(KEY)) == (b"one", b"two")
    first.close()
    second.close()


def test_keys_expire_in_real_time(store: RedisStore) -> None:
    store.set(KEY, VALUE, ttl=0.05)
    assert store.add("redtrust:lock:x", b"owner", ttl=0.05) is True
    assert store.get(KEY) == VALUE
    waited = wait_until(lambda: store.get(KEY) is None)
    assert waited < 2
    wait_until(lambda: store.add("redtrust:lock:x", b"next", ttl=10))


def test_a_renewed_lease_outlives_its_first_ttl(store: RedisStore, raw: redis.Redis) -> None:
    assert store.add("redtrust:lock:x", b"owner", ttl=0.2) is True
    assert store.replace_if("redtrust:lock:x", b"owner", b"owner", ttl=30) is True
    assert raw.pttl(b"app1:redtrust:lock:x") > 29_000


def test_scripts_are_reloaded_after_a_script_flush(store: RedisStore, raw: redis.Redis) -> None:
    store.set(KEY, VALUE, ttl=10)
    assert store.replace_if(KEY, VALUE, b"v2", ttl=10) is True
    raw.script_flush()  # as after a Redis restart or failover: EVALSHA answers NOSCRIPT
    assert store.replace_if(KEY, b"v2", b"v3", ttl=10) is True
    assert store.delete_if(KEY, b"v3") is True


@pytest.mark.anyio
async def test_async_scripts_are_reloaded_too(astore: RedisStore, raw: redis.Redis) -> None:
    await astore.aset(KEY, VALUE, ttl=10)
    raw.script_flush()
    assert await astore.areplace_if(KEY, VALUE, b"v2", ttl=10) is True
    raw.script_flush()
    assert await astore.adelete_if(KEY, b"v2") is True


def test_ping(store: RedisStore) -> None:
    store.ping()


@pytest.mark.parametrize("ttl", [float("inf"), float("nan")])
def test_ttl_must_be_finite(store: RedisStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.set(KEY, VALUE, ttl=ttl)


# --- configuration ----------------------------------------------------------------------------


def test_from_env(redis_server: RedisServer) -> None:
    store = RedisStore.from_env({"REDTRUST_REDIS_URL": redis_server.url}, prefix="env:")
    store.set(KEY, VALUE, ttl=5)
    assert store.get(KEY) == VALUE
    assert store.prefix == "env:"
    store.close()


@pytest.mark.parametrize("environ", [{}, {"REDTRUST_REDIS_URL": " "}])
def test_from_env_needs_the_url(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="REDTRUST_REDIS_URL: is not set"):
        RedisStore.from_env(environ)


def test_from_env_names_the_variable_for_a_bad_url() -> None:
    with pytest.raises(ConfigurationError, match="REDTRUST_REDIS_URL: is not a valid Redis URL"):
        RedisStore.from_env({"REDTRUST_REDIS_URL": "http://not-redis"})


def test_a_url_or_clients_but_not_both_nor_neither() -> None:
    with pytest.raises(ConfigurationError, match="a Redis URL or a client"):
        RedisStore()
    with pytest.raises(ConfigurationError, match="not both"):
        RedisStore(url="redis://127.0.0.1:1/0", client=redis.Redis())
    with pytest.raises(ConfigurationError, match="positive"):
        RedisStore(url="redis://127.0.0.1:1/0", socket_timeout=0)


def test_decoding_clients_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        RedisStore(client=redis.Redis(decode_responses=True))


def test_repr_hides_the_password() -> None:
    store = RedisStore(url="rediss://user:s3cret-pass@redis.example:6380/2?password=other")
    text = f"{store!r} {store!s}"
    assert "s3cret-pass" not in text
    assert "other" not in text
    assert "rediss://user:***@redis.example:6380/2?..." in text
    assert repr(RedisStore(client=redis.Redis())) == "RedisStore(clients=injected, prefix='')"


@pytest.mark.anyio
async def test_injected_clients_are_used_and_left_open(
    redis_server: RedisServer, anyio_backend: str
) -> None:
    sync_client = redis.Redis.from_url(redis_server.url)
    async_client = redis.asyncio.Redis.from_url(redis_server.url)
    store = RedisStore(client=sync_client, async_client=async_client, prefix="inj:")
    store.set(KEY, VALUE, ttl=5)
    assert await store.aget(KEY) == VALUE
    assert await store.atake(KEY) == VALUE
    store.close()
    await store.aclose()
    assert sync_client.ping()  # still usable: their owner closes them
    assert await async_client.ping()
    sync_client.close()
    await async_client.aclose()


@pytest.mark.anyio
async def test_a_face_without_its_client_says_so(redis_server: RedisServer) -> None:
    sync_only = RedisStore(client=redis.Redis.from_url(redis_server.url))
    with pytest.raises(ConfigurationError, match="no asyncio client"):
        await sync_only.aget(KEY)
    async_only = RedisStore(async_client=redis.asyncio.Redis.from_url(redis_server.url))
    with pytest.raises(ConfigurationError, match="no synchronous client"):
        async_only.get(KEY)


def test_importing_the_package_does_not_need_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "import redtrust_middleware, redtrust_middleware.stores\n"
        "try:\n"
        "    from redtrust_middleware.stores import RedisStore\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "redtrust-middleware[redis]"' in result.stdout


# --- failures: always a prompt StoreError, never a key or a value -------------------------


def assert_clean(error: StoreError) -> None:
    text = str(error)
    assert "redis" in text.lower()
    assert KEY not in text
    assert "0123abcd" not in text
    assert VALUE.decode() not in text
    assert error.__cause__ is None
    assert error.http_status == 503


def test_an_unreachable_redis_fails_fast() -> None:
    store = RedisStore(url=f"redis://127.0.0.1:{closed_port()}/0")  # nothing listens there
    started = time.monotonic()
    for operation in (
        lambda: store.get(KEY),
        lambda: store.set(KEY, VALUE, ttl=5),
        lambda: store.add(KEY, VALUE, ttl=5),
        lambda: store.take(KEY),
        lambda: store.delete(KEY),
        lambda: store.delete_if(KEY, VALUE),
        lambda: store.replace_if(KEY, VALUE, VALUE, ttl=5),
        store.ping,
    ):
        with pytest.raises(StoreError, match="cannot connect") as caught:
            operation()
        assert_clean(caught.value)
    assert time.monotonic() - started < 2
    store.close()


@pytest.mark.anyio
async def test_an_unreachable_redis_fails_fast_async() -> None:
    store = RedisStore(url=f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreError, match="get failed: cannot connect") as caught:
        await store.aget(KEY)
    assert_clean(caught.value)
    with pytest.raises(StoreError, match="replace_if failed"):
        await store.areplace_if(KEY, VALUE, VALUE, ttl=5)
    assert time.monotonic() - started < 2
    await store.aclose()


def test_a_killed_redis_fails_then_recovers(redis_server: RedisServer, store: RedisStore) -> None:
    store.set(KEY, VALUE, ttl=60)
    assert store.get(KEY) == VALUE  # a pooled connection is open now
    redis_server.kill()
    with pytest.raises(StoreError) as caught:
        store.get(KEY)
    assert_clean(caught.value)
    with pytest.raises(StoreError):
        store.add("redtrust:lock:x", b"owner", ttl=5)
    redis_server.start()  # same port; the data is gone (no persistence in tests)
    assert store.get(KEY) is None
    store.set(KEY, VALUE, ttl=60)
    assert store.get(KEY) == VALUE


@pytest.mark.anyio
async def test_a_killed_redis_fails_then_recovers_async(
    redis_server: RedisServer, astore: RedisStore
) -> None:
    await astore.aset(KEY, VALUE, ttl=60)
    redis_server.kill()
    with pytest.raises(StoreError) as caught:
        await astore.aget(KEY)
    assert_clean(caught.value)
    redis_server.start()
    assert await astore.aget(KEY) is None
    await astore.aset(KEY, VALUE, ttl=60)
    assert await astore.aget(KEY) == VALUE


def answers(store: RedisStore) -> bool:
    try:
        return store.get(KEY) == VALUE
    except StoreError:
        return False


def test_a_slow_redis_times_out_promptly(store: RedisStore, raw: redis.Redis) -> None:
    store.set(KEY, VALUE, ttl=60)
    raw.client_pause(1000)  # Redis holds every command for 1 s, as when overloaded
    started = time.monotonic()
    with pytest.raises(StoreError, match="get failed: timed out") as caught:
        store.get(KEY)
    elapsed = time.monotonic() - started
    assert_clean(caught.value)
    assert 0.25 <= elapsed < 0.9  # the 0.3 s socket timeout, not the pause
    wait_until(lambda: answers(store))  # and the store works again afterwards


@pytest.mark.anyio
async def test_a_slow_redis_times_out_promptly_async(astore: RedisStore, raw: redis.Redis) -> None:
    await astore.aset(KEY, VALUE, ttl=60)
    raw.client_pause(1000)
    started = time.monotonic()
    with pytest.raises(StoreError, match="timed out") as caught:
        await astore.aget(KEY)
    elapsed = time.monotonic() - started
    assert_clean(caught.value)
    assert 0.25 <= elapsed < 0.9
    deadline = time.monotonic() + 5
    while True:
        try:
            assert await astore.aget(KEY) == VALUE
            break
        except StoreError:
            assert time.monotonic() < deadline
            await anyio.sleep(0.01)


def test_an_error_reply_is_a_store_error(store: RedisStore, raw: redis.Redis) -> None:
    raw.lpush(b"app1:" + KEY.encode(), b"not a string")  # wrong type under our key
    for operation in (
        lambda: store.get(KEY),
        lambda: store.take(KEY),
        lambda: store.delete_if(KEY, VALUE),
        lambda: store.replace_if(KEY, VALUE, VALUE, ttl=5),
    ):
        with pytest.raises(StoreError, match="error reply") as caught:
            operation()
        assert_clean(caught.value)


def test_a_wrong_password_is_a_store_error(redis_server: RedisServer, raw: redis.Redis) -> None:
    raw.config_set("requirepass", "the-right-one")
    try:
        url = f"redis://:wrong-password@127.0.0.1:{redis_server.port}/0"
        store = RedisStore(url=url)
        with pytest.raises(StoreError, match="authentication failed") as caught:
            store.get(KEY)
        assert "wrong-password" not in str(caught.value)
        store.close()
    finally:
        raw.auth("the-right-one")
        raw.config_set("requirepass", "")


# --- the connection pools: waiting for a free connection, bounded ----------------------------


@pytest.mark.parametrize("size", [0, -1, 2.5, "10", True, None])
def test_the_pool_size_must_be_a_whole_number_of_connections(size: object) -> None:
    with pytest.raises(ConfigurationError, match=r"max_connections: .*at least 1.*default is 50"):
        RedisStore(url="redis://127.0.0.1:1/0", max_connections=size)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), "5"])
def test_the_pool_timeout_must_be_positive_seconds(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="pool_timeout"):
        RedisStore(url="redis://127.0.0.1:1/0", pool_timeout=timeout)  # type: ignore[arg-type]


def test_the_pool_size_default_from_keywords_env_or_url() -> None:
    url = "redis://127.0.0.1:1/0"
    assert RedisStore(url=url).max_connections == 50
    assert RedisStore(url=url, max_connections=7).max_connections == 7
    env = {"REDTRUST_REDIS_URL": url, "REDTRUST_REDIS_MAX_CONNECTIONS": " 12 "}
    assert RedisStore.from_env(env).max_connections == 12
    assert RedisStore.from_env(env, max_connections=3).max_connections == 3  # a keyword wins
    assert RedisStore.from_env({"REDTRUST_REDIS_URL": url}).max_connections == 50
    assert RedisStore(url=url + "?max_connections=4", max_connections=9).max_connections == 4


@pytest.mark.parametrize("size", ["0", "-3", "ten", "2.5", "1e3"])
def test_from_env_names_the_variable_for_a_bad_pool_size(size: str) -> None:
    env = {"REDTRUST_REDIS_URL": "redis://127.0.0.1:1/0", "REDTRUST_REDIS_MAX_CONNECTIONS": size}
    with pytest.raises(
        ConfigurationError, match=r"^REDTRUST_REDIS_MAX_CONNECTIONS: must be a whole number"
    ):
        RedisStore.from_env(env)


Outcome = tuple[float, bytes | BaseException | None]


def concurrent_gets(
    store: RedisStore, face: str, count: int, *, injected: redis.asyncio.Redis | None = None
) -> list[Outcome]:
    """``count`` concurrent ``get`` calls (threads, or tasks on one event loop): for each, the
    seconds it took and its value or exception. The asyncio pools are closed on that loop."""

    def timed_sync() -> Outcome:
        started = time.monotonic()
        try:
            value: bytes | BaseException | None = store.get(KEY)
        except StoreError as error:
            value = error
        return time.monotonic() - started, value

    async def timed_async() -> Outcome:
        started = time.monotonic()
        try:
            value: bytes | BaseException | None = await store.aget(KEY)
        except StoreError as error:
            value = error
        return time.monotonic() - started, value

    if face == "sync":
        with concurrent.futures.ThreadPoolExecutor(count) as threads:
            return list(threads.map(lambda _: timed_sync(), range(count)))

    async def tasks() -> list[Outcome]:
        try:
            return list(await asyncio.gather(*(timed_async() for _ in range(count))))
        finally:
            await store.aclose()
            if injected is not None:
                await injected.aclose()

    return asyncio.run(tasks())


def clients(raw: redis.Redis) -> int:
    """Connections open to the server, not counting ``raw``'s own."""
    return int(raw.info("clients")["connected_clients"]) - 1


@pytest.mark.parametrize("face", ["sync", "async"])
def test_more_concurrent_operations_than_the_pool_wait_and_all_succeed(
    redis_server: RedisServer, raw: redis.Redis, face: str
) -> None:
    store = RedisStore(url=redis_server.url, max_connections=3, socket_timeout=5)
    raw.set(KEY, VALUE)
    # Redis holds every command for 0.3 s: all 30 operations are in flight together, 3 on
    # the pool's connections, 27 waiting for one of them.
    raw.client_pause(300)
    outcomes = concurrent_gets(store, face, 30)
    assert [value for _, value in outcomes] == [VALUE] * 30
    assert clients(raw) <= 3  # the pool never grew past its bound (closed ones are gone)
    store.close()


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_pool_busy_for_longer_than_its_timeout_is_a_prompt_store_error(
    redis_server: RedisServer, raw: redis.Redis, face: str
) -> None:
    store = RedisStore(url=redis_server.url, max_connections=1, pool_timeout=0.2, socket_timeout=5)
    raw.set(KEY, VALUE)
    raw.client_pause(1500)  # the one connection waits 1.5 s for its answer
    outcomes = sorted(concurrent_gets(store, face, 2), key=lambda outcome: outcome[0])
    (waited, error), (answered, value) = outcomes
    assert value == VALUE  # the operation holding the connection got its answer
    assert answered >= 1.4
    assert isinstance(error, StoreError)  # the one waiting for it gave up after 0.2 s
    assert 0.2 <= waited < 1.0
    assert str(error) == (
        "Redis store: get failed: no free connection: all 1 of the pool were busy for 0.2 s; "
        "raise max_connections (RedisStore(max_connections=...) or "
        "REDTRUST_REDIS_MAX_CONNECTIONS), or look for slow Redis commands"
    )
    assert_clean(error)
    assert store.get(KEY) == VALUE  # the pool serves again once its connection is back
    store.close()


@pytest.mark.parametrize("face", ["sync", "async"])
def test_an_injected_client_keeps_its_own_pool(
    redis_server: RedisServer, raw: redis.Redis, face: str
) -> None:
    # redis-py's default pool does not wait: with all of its connections busy it refuses.
    sync_client = redis.Redis.from_url(redis_server.url, max_connections=2)
    async_client = redis.asyncio.Redis.from_url(redis_server.url, max_connections=2)
    store = RedisStore(client=sync_client, async_client=async_client)
    assert store.max_connections == 2
    raw.set(KEY, VALUE)
    raw.client_pause(300)
    values = [value for _, value in concurrent_gets(store, face, 3, injected=async_client)]
    sync_client.close()
    assert values.count(VALUE) == 2
    (error,) = [value for value in values if isinstance(value, StoreError)]
    assert "no free connection: all 2 of the pool were busy;" in str(error)
    assert "the injected client's pool is too small" in str(error)
