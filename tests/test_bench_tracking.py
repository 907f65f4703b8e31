"""The client-side cache benchmark runs end to end in quick mode (figures not asserted)."""

from __future__ import annotations

import pytest
from benchmarks import bench_tracking

from redtrust_middleware.testing import RedisServer


@pytest.mark.network
def test_quick_targets(redis_server: RedisServer) -> None:  # the fixture: redis-server exists
    rows = bench_tracking.targets(quick=True)
    assert [row.section for row in rows] == [bench_tracking.SECTION] * 4
    assert rows[0].goal == "Redis commands per hit = 0"
    assert rows[0].met  # a hit never reaches Redis, whatever the machine's speed
