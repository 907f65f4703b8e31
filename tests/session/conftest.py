"""A world for session tests: the sandbox, a fake clock, a countable store (memory or Redis),
either driver."""

from __future__ import annotations

import concurrent.futures
import itertools
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
import redis
from tests.stores import redis_dump, shift_ttls

from redtrust_middleware import (
    CERTIFICATE_ENROLL,
    AsyncClient,
    AsyncSessionManager,
    Client,
    Hooks,
    Keyring,
    MemoryStore,
    Profile,
    RedtrustConfig,
    SessionManager,
    StoreError,
    TokenSet,
)
from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.session import LoginStart
from redtrust_middleware.stores.redis import RedisStore
from redtrust_middleware.testing import FakeClock, RedisServer, require_system

SECRET = "session-test-secret-0123456789"
APP = "https://app.example"


class SuiteClock(FakeClock):
    """A fake clock that Redis follows: letting time pass shortens the TTLs there too."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        super().__init__(start)
        self.followers: list[Callable[[float], None]] = []

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        for follow in self.followers:
            follow(seconds)


class FlakyStore:
    """A store that counts calls and can fail on demand, over a MemoryStore or a RedisStore.

    ``inner`` is the store itself, for direct access that bypasses the faults.
    """

    def __init__(self, inner: MemoryStore | RedisStore) -> None:
        self.inner = inner
        self.reads = 0
        self.writes = 0
        self.down = False
        self.fail_writes_to: str | None = None

    def snapshot(self) -> dict[str, bytes]:
        """Every live key (as the session layer names it) and its value."""
        inner = self.inner
        if isinstance(inner, MemoryStore):
            return {k: v for space in inner._spaces.values() for k, (_, v) in space.items()}
        dump = redis_dump(SUITE_REDIS.url)
        return {
            k.decode()[len(inner.prefix) :]: v
            for k, v in dump.items()
            if k.startswith(inner.prefix.encode())
        }

    def _check(self, key: str, write: bool) -> None:
        if self.down:
            raise StoreError("store unavailable")
        if write:
            self.writes += 1
            if self.fail_writes_to and self.fail_writes_to in key:
                raise StoreError("write failed")
        else:
            self.reads += 1

    def get(self, key: str) -> bytes | None:
        self._check(key, False)
        return self.inner.get(key)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._check(key, True)
        self.inner.set(key, value, ttl=ttl)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return self.inner.add(key, value, ttl=ttl)

    def take(self, key: str) -> bytes | None:
        self._check(key, True)
        return self.inner.take(key)

    def delete(self, key: str) -> None:
        self._check(key, True)
        self.inner.delete(key)

    def delete_if(self, key: str, value: bytes) -> bool:
        self._check(key, True)
        return self.inner.delete_if(key, value)

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return self.inner.replace_if(key, expected, value, ttl=ttl)

    async def aget(self, key: str) -> bytes | None:
        self._check(key, False)
        return await self.inner.aget(key)

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        self._check(key, True)
        await self.inner.aset(key, value, ttl=ttl)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return await self.inner.aadd(key, value, ttl=ttl)

    async def atake(self, key: str) -> bytes | None:
        self._check(key, True)
        return await self.inner.atake(key)

    async def adelete(self, key: str) -> None:
        self._check(key, True)
        await self.inner.adelete(key)

    async def adelete_if(self, key: str, value: bytes) -> bool:
        self._check(key, True)
        return await self.inner.adelete_if(key, value)

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return await self.inner.areplace_if(key, expected, value, ttl=ttl)


class SuiteRedis:
    """The session suite's one redis-server; each world gets its own key prefix."""

    def __init__(self) -> None:
        self.server: RedisServer | None = None
        self.opened: list[RedisStore] = []
        self.opened_raw: list[redis.Redis] = []
        self._worlds = itertools.count()

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("request a '*-redis' kind to start the suite's redis-server")
        return self.server.url

    def store(self, clock: SuiteClock) -> FlakyStore:
        """A RedisStore under a fresh prefix whose TTLs follow ``clock``."""
        prefix = f"world{next(self._worlds)}:"
        store = RedisStore(url=self.url, prefix=prefix)
        self.opened.append(store)
        raw = redis.Redis.from_url(self.url)
        self.opened_raw.append(raw)
        clock.followers.append(lambda seconds: shift_ttls(raw, seconds, match=prefix + "*"))
        return FlakyStore(store)

    async def close(self) -> None:
        for store in self.opened:
            store.close()
            await store.aclose()
        for raw in self.opened_raw:
            raw.close()
        self.opened.clear()
        self.opened_raw.clear()


SUITE_REDIS = SuiteRedis()


class Driver:
    """One awaitable face over either manager, so every test runs against both."""

    def __init__(self, manager: SessionManager | AsyncSessionManager) -> None:
        self.manager = manager
        self.flows = manager.flows

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.manager, name)(*args, **kwargs)
        return await result if isinstance(self.manager, AsyncSessionManager) else result

    async def begin_login(self, **kwargs: Any) -> LoginStart:
        return await self._call("begin_login", **kwargs)  # type: ignore[no-any-return]

    async def complete_login(self, **kwargs: Any) -> Any:
        return await self._call("complete_login", **kwargs)

    async def get(self, handle: str | None) -> Any:
        return await self._call("get", handle)

    async def logout(self, handle: str | None) -> bool:
        return await self._call("logout", handle)  # type: ignore[no-any-return]

    async def concurrently(self, count: int, job: Callable[[], Awaitable[Any]]) -> list[Any]:
        """Run ``job`` ``count`` times at once: tasks for async, threads for sync."""
        if isinstance(self.manager, AsyncSessionManager):
            results: list[Any] = []

            async def one() -> None:
                results.append(await job())

            async with anyio.create_task_group() as group:
                for _ in range(count):
                    group.start_soon(one)
            return results

        def in_thread() -> Any:
            return anyio.run(job)  # each thread drives the sync manager on its own

        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(in_thread) for _ in range(count)]
            return await anyio.to_thread.run_sync(lambda: [f.result(timeout=60) for f in futures])


@dataclass
class World:
    kind: str
    sandbox: Sandbox
    clock: SuiteClock
    store: FlakyStore
    keyring: Keyring
    config: RedtrustConfig
    driver: Driver
    callback: str = field(init=False)

    def __post_init__(self) -> None:
        self.callback = APP + self.config.callback_path

    def sign_in_on_page(self, login_url: str, username: str, password: str) -> str:
        """Play the browser on the sandbox's page; return the redirect location."""
        return self.sandbox.sign_in(login_url, username, password)

    async def start_and_authenticate(self) -> tuple[LoginStart, str]:
        """Start a login and return the callback query Redtrust would send back."""
        start = await self.driver.begin_login(next_url="/after", callback_url=self.callback)
        location = self.sign_in_on_page(start.url, "demo", "demo")
        return start, urlsplit(location).query

    async def fresh_tokens(self) -> TokenSet:
        """A new token set for the demo user, straight from the sandbox."""
        result = self.driver.manager.client.login("demo", "demo")
        return await result if not isinstance(result, TokenSet) else result

    async def sign_in(self) -> str:
        start, query = await self.start_and_authenticate()
        done = await self.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
        return done.handle  # type: ignore[no-any-return]


def make_world(
    kind: str,
    *,
    sandbox: Sandbox | None = None,
    store: FlakyStore | None = None,
    clock: SuiteClock | None = None,
    keyring: Keyring | None = None,
    profile: Profile = CERTIFICATE_ENROLL,
    fake_sleep: bool = False,
    sandbox_skew: float = 0.0,
    sandbox_options: dict[str, Any] | None = None,
    hooks: Hooks | None = None,
    **config_options: Any,
) -> World:
    clock = clock if clock is not None else SuiteClock()
    options: dict[str, Any] = {"access_token_ttl": 300, **(sandbox_options or {})}
    sandbox = (
        sandbox
        if sandbox is not None
        else Sandbox(
            SandboxConfig(
                partners={"CA_DEMO": SECRET},
                users={"demo": "demo"},
                redirect_prefixes=(APP + "/",),
                **options,
            ),
            clock=(lambda: clock() + sandbox_skew) if sandbox_skew else clock,
        )
    )
    if store is None:
        store = (
            SUITE_REDIS.store(clock)
            if kind.endswith("-redis")
            else FlakyStore(MemoryStore(clock=clock))
        )
    keyring = keyring if keyring is not None else Keyring(["k" * 32])
    config = RedtrustConfig(
        server_url="https://redtrust.test",
        partner="CA_DEMO",
        shared_secret=SECRET,
        public_url=APP,
        profile=profile,
        **config_options,
    )
    manager: SessionManager | AsyncSessionManager
    if kind.startswith("sync"):
        client = Client(config, transport=sandbox.transport(), clock=clock)
        manager = SessionManager(
            config,
            store=store,
            client=client,
            keyring=keyring,
            clock=clock,
            sleep=clock.sleep if fake_sleep else time.sleep,
            hooks=hooks,
        )
    else:
        aclient = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
        manager = AsyncSessionManager(
            config,
            store=store,
            client=aclient,
            keyring=keyring,
            clock=clock,
            sleep=clock.asleep if fake_sleep else anyio.sleep,
            hooks=hooks,
        )
    return World(
        kind=kind,
        sandbox=sandbox,
        clock=clock,
        store=store,
        keyring=keyring,
        config=config,
        driver=Driver(manager),
    )


@pytest.fixture(scope="session")
def suite_redis_server() -> Iterator[RedisServer]:
    require_system(
        shutil.which("redis-server") is not None,
        "redis-server is missing (apt-get install -y redis-server)",
    )
    with RedisServer() as server:
        SUITE_REDIS.server = server
        try:
            yield server
        finally:
            SUITE_REDIS.server = None


@pytest.fixture
async def redis_worlds(
    suite_redis_server: RedisServer, anyio_backend: str
) -> AsyncIterator[SuiteRedis]:
    """Closes the test's Redis connection pools on the test's own event loop."""
    yield SUITE_REDIS
    await SUITE_REDIS.close()


@pytest.fixture(params=["sync", "async", "sync-redis", "async-redis"])
def kind(request: pytest.FixtureRequest) -> str:
    """The driver (sync or async) and the store (memory, or Redis with ``-redis``)."""
    if str(request.param).endswith("-redis"):
        request.getfixturevalue("redis_worlds")
    return str(request.param)


@pytest.fixture
def world(kind: str) -> World:
    return make_world(kind)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
