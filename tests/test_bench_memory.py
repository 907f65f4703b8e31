"""The memory store benchmark runs: both drivers, empty and full, and its table."""

from __future__ import annotations

import pytest
from benchmarks.bench_memory import VARIANTS, render, run

pytestmark = pytest.mark.anyio


async def test_the_memory_benchmark_times_both_drivers_empty_and_full() -> None:
    result = await run(20, 2, 300, lambda message: None)  # checks the store stays full
    assert set(result.logins_per_second) == set(VARIANTS)
    assert all(spread.min > 0 for spread in result.logins_per_second.values())
    assert set(result.full_vs_empty) == {"sync", "async"}
    assert set(result.set_us) == {"empty", "full"}
    table = render(result)
    assert "full/empty" in table
    assert "max_entries=300" in table
