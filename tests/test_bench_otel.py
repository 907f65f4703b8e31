"""The OpenTelemetry benchmark runs: its three cases, the check timed alone, and its table."""

from __future__ import annotations

import pytest
from benchmarks.bench_otel import CASES, render, run

from redtrust_middleware import telemetry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_otel_benchmark_times_each_case() -> None:
    result = await run(20, 2, 10, lambda message: None)
    assert set(result.us_per_request) == set(CASES)
    assert set(result.added_us) == {"unsampled", "sampled"}
    assert result.spans_per_sampled_request == 1  # the session read's store span
    assert all(ns > 0 for ns in result.check_ns.values())
    assert "unsampled adds < 0.5 µs" in render(result)
    assert telemetry._SPANS is not None  # the "none" case put the reader back
