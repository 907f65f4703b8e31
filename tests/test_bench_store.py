"""The store benchmark runs, and a signed-in request costs Redis one GET and no write."""

from __future__ import annotations

import pytest
from benchmarks.bench_store import render, run, targets_met

from redtrust_middleware.testing import RedisServer

pytestmark = pytest.mark.anyio


async def test_one_get_and_no_write_per_signed_in_request(redis_server: RedisServer) -> None:
    result = await run(redis_server.url, 40, 2, 5, lambda message: None)
    assert result.redis_commands_per_request == {
        "sync-redis": {"get": 1.0},
        "async-redis": {"get": 1.0},
    }
    assert targets_met(result)
    assert result.refreshes == 0
    assert set(result.us_per_request) == {
        "sync-memory",
        "sync-redis",
        "async-memory",
        "async-redis",
    }
    assert "Redis/memory" in render(result)
