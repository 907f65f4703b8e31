"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from tests.databases import postgres_server as postgres_server  # the fixture
from tests.stores import StoreHarness, shift_ttls

from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.stores.redis import RedisStore
from redtrust_middleware.testing import FakeClock, RedisServer


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[StoreHarness]:
    """A store under the store contract: MemoryStore (fake clock) or RedisStore (real server)."""
    if request.param == "memory":
        clock = FakeClock()
        yield StoreHarness("memory", MemoryStore(clock=clock), clock.advance)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStore(url=server.url, prefix="test:")
    with redis.Redis.from_url(server.url) as raw:
        yield StoreHarness("redis", store, lambda seconds: shift_ttls(raw, seconds))
    store.close()


@pytest.fixture
async def async_harness(harness: StoreHarness, anyio_backend: str) -> AsyncIterator[StoreHarness]:
    """:func:`harness` for async tests: the asyncio pool is closed on the test's loop."""
    yield harness
    if isinstance(harness.store, RedisStore):
        await harness.store.aclose()
