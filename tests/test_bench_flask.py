"""The Flask benchmark runs end to end, in-process (the socket half needs wrk and minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_flask_runs_and_reports_the_three_variants() -> None:
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    arguments = ["--quick", "--no-sockets", "--requests", "50", "--rounds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_flask", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a target missed on a busy machine
    for variant in ("bare", "session", "redtrust"):
        assert any(line.split()[:1] == [variant] for line in done.stdout.splitlines()), done.stdout
    assert "Flask's session read adds" in done.stdout
