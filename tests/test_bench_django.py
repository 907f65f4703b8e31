"""The Django benchmark runs end to end (in its own process: it configures Django itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_django", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_bench_django_runs_and_reports_both_engines() -> None:
    done = _bench("--quick", "--requests", "40", "--rounds", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    for engine in ("`db`", "`cache`"):
        rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {engine} |")]
        assert len(rows) == 4, done.stdout  # bare, Django, ours, and the ratio row
    assert "ours/Django per request" in done.stdout
    assert "Redtrust signals during the timed run: none" in done.stdout


def test_the_targets_report_what_ours_adds_beyond_the_session_load() -> None:
    # `targets(quick=True)`, as `make bench` calls it but short: the figures only indicative.
    done = _bench("--targets", "--quick", "--rounds", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "== Django (in-process, cache session engine)" in lines, done.stdout
    ours = [line for line in lines if "ours adds ≤ 8 µs beyond the session load" in line]
    assert len(ours) == 1, done.stdout
    assert re.search(r" µs \(min -?[0-9.]+, max -?[0-9.]+\)  \[(met|NOT MET)\]$", ours[0])
    assert any("AuthenticationMiddleware + @login_required" in line for line in lines)
    assert re.search(r"^[0-9]/2 targets met$", lines[-1]), done.stdout
