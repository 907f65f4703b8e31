"""A world for session tests: the sandbox, a fake clock, a countable store, either driver."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from redtrust_middleware import (
    CERTIFICATE_ENROLL,
    AsyncClient,
    AsyncSessionManager,
    Client,
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
from redtrust_middleware.testing import FakeClock

SECRET = "session-test-secret-0123456789"
APP = "https://app.example"


class FlakyStore(MemoryStore):
    """A MemoryStore that counts calls and can fail on demand (its async face follows)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.inner = MemoryStore(clock=clock)  # direct access that bypasses the faults
        self.inner._spaces = self._spaces  # test-only: one shared table
        self.inner._lock = self._lock
        self.reads = 0
        self.writes = 0
        self.down = False
        self.fail_writes_to: str | None = None

    def snapshot(self) -> dict[str, bytes]:
        return {k: v for space in self._spaces.values() for k, (_, v) in space.items()}

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
        return super().get(key)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._check(key, True)
        super().set(key, value, ttl=ttl)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return super().add(key, value, ttl=ttl)

    def take(self, key: str) -> bytes | None:
        self._check(key, True)
        return super().take(key)

    def delete(self, key: str) -> None:
        self._check(key, True)
        super().delete(key)

    def delete_if(self, key: str, value: bytes) -> bool:
        self._check(key, True)
        return super().delete_if(key, value)

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        self._check(key, True)
        return super().replace_if(key, expected, value, ttl=ttl)


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
    clock: FakeClock
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
    clock: FakeClock | None = None,
    keyring: Keyring | None = None,
    profile: Profile = CERTIFICATE_ENROLL,
    fake_sleep: bool = False,
    sandbox_skew: float = 0.0,
    sandbox_options: dict[str, Any] | None = None,
    **config_options: Any,
) -> World:
    clock = clock if clock is not None else FakeClock()
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
    store = store if store is not None else FlakyStore(clock)
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
    if kind == "sync":
        client = Client(config, transport=sandbox.transport(), clock=clock)
        manager = SessionManager(
            config,
            store=store,
            client=client,
            keyring=keyring,
            clock=clock,
            **({"sleep": clock.sleep} if fake_sleep else {}),
        )
    else:
        aclient = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
        manager = AsyncSessionManager(
            config,
            store=store,
            client=aclient,
            keyring=keyring,
            clock=clock,
            **({"sleep": clock.asleep} if fake_sleep else {}),
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


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(kind: str) -> World:
    return make_world(kind)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
