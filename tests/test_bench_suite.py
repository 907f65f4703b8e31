"""``make bench`` in quick mode: every section runs and prints each target beside its figure,
the run's JSON and plots are written, and the storm counts what it claims (the structure of
the run and its correctness, never its speed: the machine may be busy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from benchmarks import suite
from benchmarks.oauth_server import CLIENT_ID, CLIENT_SECRET, SIGN_IN_CODE, TokenServer, serving

from redtrust_middleware.testing import require_system

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.network
@pytest.mark.timeout(120)
def test_the_whole_run_in_quick_mode(tmp_path: Path) -> None:
    have_wrk = shutil.which("wrk") is not None
    require_system(have_wrk, "wrk is not installed (apt-get install wrk): sockets not measured")
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    arguments = [
        "--quick", "--requests", "400", "--rounds", "2", "--sessions", "200",
        "--socket-rounds", "2", "--duration", "1", "--storm-requests", "100",
        "--no-child", "django", "--no-child", "tracking",  # their own tests run them
        "--output-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a target missed on a busy machine
    out = done.stdout
    for section in ("ASGI in-process", "over sockets", "refresh storm"):
        assert any(line.startswith(f"== {section}") for line in out.splitlines()), out
    assert "our added cost <= 2 µs" in out
    assert "our added / SessionMiddleware's added <= 0.15" in out
    assert "many sessions round-robin (200 sessions; the target is at 100,000)" in out
    assert "httptools+uvloop: our req/s / bare >= 0.93" in out
    assert "targets met" in out

    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["quick"] is True
    rows = data["targets"]
    assert len(rows) == 7
    assert all(set(row) == {"section", "goal", "figure_text", "met"} for row in rows)
    assert (done.returncode == 0) == all(row["met"] for row in rows)
    rounds = data["in_process"]["rounds_us"]
    assert set(rounds) == {
        "bare",
        "session",
        "floor",
        "redtrust",
        "redtrust-nocookie",
        "redtrust-many",
    }
    assert all(len(values) == 2 for values in rounds.values())
    assert data["in_process"]["sessions"] == 200
    assert data["in_process"]["refresh_calls"] == 0
    assert set(data["sockets"]["rounds_rps"]) == {
        f"{kind}/{variant}"
        for kind in ("h11", "httptools+uvloop")
        for variant in ("bare", "floor", "redtrust")
    }
    assert "the floor" in next(r["figure_text"] for r in rows if "req/s" in r["goal"])
    assert all(len(values) == 2 for values in data["sockets"]["rounds_rps"].values())
    # The storm: ours refreshed once and answered every request; Authlib's setup refreshed
    # for every request that arrived with the expired token, and all but one failed.
    (ours,), (authlib,) = data["storm"]["ours"], data["storm"]["authlib"]
    assert (ours["refresh_grants"], ours["failed"], ours["outcomes"]) == (1, 0, {"200": 100})
    assert authlib["refresh_grants"] >= 2
    assert authlib["failed"] == authlib["refreshes_refused"]
    for name in ("added-us.png", "ratios.png", "sockets.png", "storm.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_a_section_not_merged_yet_is_reported_not_met(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(suite.CHILD_SECTIONS, "nowhere", ("benchmarks.no_such_module", "Nowhere"))
    monkeypatch.setitem(suite.CHILD_SECTIONS, "plain", ("benchmarks.targets", "No targets()"))
    (missing,) = suite.section_in_child("nowhere", quick=True)
    (no_function,) = suite.section_in_child("plain", quick=True)
    assert (missing.section, missing.met) == ("Nowhere", False)
    assert "not measured" in missing.figure_text
    assert (no_function.section, no_function.met) == ("No targets()", False)


@pytest.mark.network
def test_the_token_server_rotates_refresh_tokens_and_counts_grants() -> None:
    server = TokenServer()
    credentials = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    with serving(server) as url, httpx2.Client(base_url=url, timeout=10) as http:
        first = http.post(
            "/token", data={**credentials, "grant_type": "authorization_code", "code": SIGN_IN_CODE}
        )
        assert first.status_code == 200
        assert first.json()["expires_in"] == 30
        refresh = {**credentials, "grant_type": "refresh_token"}
        token = first.json()["refresh_token"]
        second = http.post("/token", data={**refresh, "refresh_token": token})
        again = http.post("/token", data={**refresh, "refresh_token": token})  # spent
        assert second.status_code == 200
        assert second.json()["refresh_token"] != token
        assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
        bearer = {"Authorization": f"Bearer {second.json()['access_token']}"}
        assert http.get("/userinfo", headers=bearer).json() == {"sub": "alice"}
        assert http.get("/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401
        wrong = http.post("/token", data={**refresh, "client_secret": "x", "refresh_token": token})
        assert wrong.status_code == 401
    assert (server.refresh_grants, server.refreshes_accepted, server.refreshes_refused) == (2, 1, 1)
