"""The Django benchmark runs end to end (in its own process: it configures Django itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_django_runs_and_reports_both_engines() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    arguments = ["--quick", "--requests", "40", "--rounds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_django", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for engine in ("`db`", "`cache`"):
        rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {engine} |")]
        assert len(rows) == 4, done.stdout  # bare, Django, ours, and the ratio row
    assert "ours/Django per request" in done.stdout
    assert "Redtrust signals during the timed run: none" in done.stdout
