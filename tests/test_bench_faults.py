"""The refresh-deadline experiment runs, and shows what it is for: with Redtrust slower than
``timeout`` but within ``refresh_timeout``, the longer deadline keeps every session alive."""

from __future__ import annotations

import pytest
from benchmarks import bench_faults

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]


def test_a_longer_refresh_deadline_keeps_sessions_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_faults, "ACCESS_TTL", 5)  # a shorter round: due 2 s after issue
    monkeypatch.setattr(bench_faults, "LEEWAY", 3.0)
    args = bench_faults.parse_args(["--sessions=4", "--rounds=1", "--driver=async"])
    args.latencies = (1.0,)  # between timeout (0.5 s) and the long deadline (2 s)
    rows = bench_faults.summary(bench_faults.run(args, lambda message: None))
    by_deadline = {row["refresh_deadline_s"]: row for row in rows}
    assert by_deadline[0.5]["survived_pct_median"] == 0  # cut off at `timeout`: unknown
    assert by_deadline[2.0]["survived_pct_median"] == 100
    assert all(row["errors"] == 0 and row["refresh_reuse"] == 0 for row in rows)
    assert "refresh deadline" in bench_faults.render(rows, 4, 3)
