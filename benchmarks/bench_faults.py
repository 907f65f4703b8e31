"""Experiment: does a longer deadline for the refresh call keep sessions alive when Redtrust is
slower than ``timeout``?

For each driver (sync ``SessionManager``, async ``AsyncSessionManager``), each Redtrust latency
L and each refresh deadline (``refresh_timeout`` equal to ``timeout``, which is how every call
was cut off before, and a longer one), a round:

1. signs in N sessions against the sandbox served over a real socket (uvicorn on loopback),
   with short-lived access tokens, and waits until every token is due for refresh (within
   ``refresh_leeway``) but still valid;
2. makes the sandbox hold every answer L seconds (after it handled the call: the refresh
   token rotates at once, the answer comes late) and sends K concurrent requests per session
   (``manager.get``), timing each one;
3. waits for every refresh to finish or give up, sets L back to 0, waits until the first
   access tokens have expired, and asks for every session once more: a session *survives*
   when it is still signed in.

Reported per round: sessions surviving past expiry, how long the requests of step 2 waited
(median and max), how many of them were not served (errors: none expected, every token was
still valid), refresh calls per session and the sandbox's ``refresh_reuse`` (must be 0).

Run ``python -m benchmarks faults`` (``--quick`` for a short run). The table is printed and
the figures are written to ``benchmarks/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redtrust_middleware import (
    ActiveSession,
    AsyncClient,
    AsyncSessionManager,
    Client,
    RedtrustConfig,
    RedtrustError,
    SessionManager,
)
from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.session import RefreshNeeded
from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.testing import TEST_APP_URL, TEST_PARTNER, TEST_SECRET, TEST_USERS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ACCESS_TTL = 8  # seconds; due 2 s after issue (leeway 6 s), expired 8 s after issue
LEEWAY = 6.0
TIMEOUT = 0.5
LONG_DEADLINE = 2.0
LATENCIES = (0.25, 1.0, 3.0)  # below timeout, between the two deadlines, above both
DRIVERS = ("async", "sync")


@dataclass
class Round:
    driver: str
    latency: float
    refresh_deadline: float
    sessions: int
    survived: int
    wait_median_s: float
    wait_max_s: float
    errors: int
    refresh_calls: int
    refresh_reuse: int


def _sandbox() -> Sandbox:
    return Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(TEST_APP_URL + "/",),
            access_token_ttl=ACCESS_TTL,
            refreshed_access_token_ttl=3600,
            max_attempts_per_link=1000,
        )
    )


def _config(url: str, refresh_deadline: float) -> RedtrustConfig:
    return RedtrustConfig(
        server_url=url,
        partner=TEST_PARTNER,
        shared_secret=TEST_SECRET,
        public_url=TEST_APP_URL,
        timeout=TIMEOUT,
        refresh_timeout=refresh_deadline,
        refresh_leeway=LEEWAY,
        connect_retries=0,
    )


def _tokens_state(manager: SessionManager | AsyncSessionManager, handles: Sequence[str]) -> Any:
    """Without touching them: are all these sessions due for refresh, and when does the
    last of their access tokens expire (UNIX time)? The lifetimes are measured from the
    sandbox's ``Date`` header (whole seconds), so "due" is polled, not computed."""
    flows, store = manager.flows, manager.store
    due, expiry = True, 0.0
    for handle in handles:
        key = flows.session_key(handle)
        loaded = flows.loaded(handle, key, store.get(key))  # type: ignore[union-attr]
        session = loaded.current if isinstance(loaded, RefreshNeeded) else loaded
        if not isinstance(session, ActiveSession):
            raise RuntimeError("a session was lost before the experiment began")
        due = due and isinstance(loaded, RefreshNeeded)
        expiry = max(expiry, session.tokens.expires_at.timestamp())
    return due, expiry


async def _when_due(manager: SessionManager | AsyncSessionManager, handles: Sequence[str]) -> float:
    """Poll until every session is due for refresh (none refreshed); the last expiry."""
    deadline = time.monotonic() + ACCESS_TTL
    while True:
        due, expiry = _tokens_state(manager, handles)
        if due:
            return float(expiry)
        if time.monotonic() > deadline:
            raise RuntimeError("the sessions never became due for refresh")
        await asyncio.sleep(0.02)


def _until(moment: float) -> None:
    """Sleep until the wall clock reads ``moment`` (UNIX time)."""
    time.sleep(max(0.0, moment - time.time()))


def _outcome(call: Callable[[], Any]) -> tuple[float, bool]:
    started = time.monotonic()
    try:
        ok = call() is not None
    except RedtrustError:
        ok = False
    return time.monotonic() - started, ok


def _sync_round(url: str, sandbox: Sandbox, deadline: float, args: argparse.Namespace) -> Any:
    config = _config(url, deadline)
    manager = SessionManager(config, store=MemoryStore(), client=Client(config))
    handles = []
    for _ in range(args.sessions):
        start = manager.begin_login(next_url="/")
        location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
        query = urlsplit(location).query
        handles.append(manager.complete_login(query=query, browser_nonces=start.browser_nonces))
    expiry = asyncio.run(_when_due(manager, [h.handle for h in handles]))
    sandbox.latency = args.latency
    jobs = [h.handle for h in handles for _ in range(args.requests)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        timed = list(pool.map(lambda handle: _outcome(lambda: manager.get(handle)), jobs))
    sandbox.latency = 0
    _until(expiry + 0.2)  # every access token the sessions had at the start has expired
    survived = sum(manager.get(h.handle) is not None for h in handles)
    manager.close()
    return timed, survived


async def _async_round(
    url: str, sandbox: Sandbox, deadline: float, args: argparse.Namespace
) -> Any:
    config = _config(url, deadline)
    manager = AsyncSessionManager(config, store=MemoryStore(), client=AsyncClient(config))
    handles = []
    for _ in range(args.sessions):
        start = await manager.begin_login(next_url="/")
        location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
        query = urlsplit(location).query
        done = await manager.complete_login(query=query, browser_nonces=start.browser_nonces)
        handles.append(done.handle)
    expiry = await _when_due(manager, handles)
    sandbox.latency = args.latency

    async def one(handle: str) -> tuple[float, bool]:
        started = time.monotonic()
        try:
            ok = await manager.get(handle) is not None
        except RedtrustError:
            ok = False
        return time.monotonic() - started, ok

    began = time.monotonic()
    timed = await asyncio.gather(*(one(h) for h in handles for _ in range(args.requests)))
    # Refreshes may go on in the background (the manager owns them): each has completed or
    # given up by the sooner of the latency and its deadline.
    await asyncio.sleep(max(0.0, began + min(args.latency, deadline) + 0.3 - time.monotonic()))
    sandbox.latency = 0
    await asyncio.sleep(max(0.0, expiry + 0.2 - time.time()))
    survived = sum([await manager.get(h) is not None for h in handles])
    await manager.aclose()
    return list(timed), survived


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[Round]:
    """Every driver x latency x deadline, ``args.rounds`` times (interleaved)."""
    results: list[Round] = []
    sandbox = _sandbox()
    with running(sandbox) as url:
        for round_ in range(args.rounds):
            for driver in args.drivers:
                for latency in args.latencies:
                    for deadline in (TIMEOUT, args.long_deadline):
                        args.latency = latency
                        sandbox.reset_counters()
                        log(f"round {round_ + 1}: {driver}, L={latency} s, deadline {deadline} s")
                        if driver == "sync":
                            timed, survived = _sync_round(url, sandbox, deadline, args)
                        else:
                            timed, survived = asyncio.run(
                                _async_round(url, sandbox, deadline, args)
                            )
                        waits = [seconds for seconds, _ in timed]
                        results.append(
                            Round(
                                driver=driver,
                                latency=latency,
                                refresh_deadline=deadline,
                                sessions=args.sessions,
                                survived=survived,
                                wait_median_s=statistics.median(waits),
                                wait_max_s=max(waits),
                                errors=sum(not ok for _, ok in timed),
                                refresh_calls=sandbox.calls["refresh"],
                                refresh_reuse=sandbox.calls["refresh_reuse"],
                            )
                        )
    return results


def summary(results: Sequence[Round]) -> list[dict[str, Any]]:
    """One row per driver x latency x deadline: medians over rounds (min-max of survival)."""
    rows: list[dict[str, Any]] = []
    keys = sorted({(r.driver, r.latency, r.refresh_deadline) for r in results})
    for driver, latency, deadline in keys:
        same = [
            r
            for r in results
            if (r.driver, r.latency, r.refresh_deadline) == (driver, latency, deadline)
        ]
        survival = [100.0 * r.survived / r.sessions for r in same]
        rows.append(
            {
                "driver": driver,
                "latency_s": latency,
                "refresh_deadline_s": deadline,
                "survived_pct_min": min(survival),
                "survived_pct_median": statistics.median(survival),
                "survived_pct_max": max(survival),
                "wait_median_s": statistics.median(r.wait_median_s for r in same),
                "wait_max_s": max(r.wait_max_s for r in same),
                "errors": sum(r.errors for r in same),
                "refresh_calls_per_session": statistics.median(
                    r.refresh_calls / r.sessions for r in same
                ),
                "refresh_reuse": sum(r.refresh_reuse for r in same),
                "rounds": len(same),
            }
        )
    return rows


def render(rows: Sequence[dict[str, Any]], sessions: int, requests: int) -> str:
    lines = [
        f"{sessions} sessions x {requests} concurrent requests while their tokens are due; "
        f"timeout {TIMEOUT} s",
        "survived = still signed in after the first access token expired "
        "(min/median/max over rounds)",
        "",
        f"{'driver':<6} {'latency':>8} {'refresh deadline':>17} {'survived %':>16} "
        f"{'wait median':>12} {'wait max':>9} {'errors':>7} {'refreshes':>10} {'reuse':>6}",
    ]
    for row in rows:
        deadline = row["refresh_deadline_s"]
        label = f"{deadline:g} s" + (" (=timeout)" if deadline == TIMEOUT else "")
        survived = (
            f"{row['survived_pct_min']:.0f}/{row['survived_pct_median']:.0f}/"
            f"{row['survived_pct_max']:.0f}"
        )
        lines.append(
            f"{row['driver']:<6} {row['latency_s']:>6g} s {label:>17} {survived:>16} "
            f"{row['wait_median_s']:>10.2f} s {row['wait_max_s']:>7.2f} s {row['errors']:>7} "
            f"{row['refresh_calls_per_session']:>10g} {row['refresh_reuse']:>6}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks faults",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--quick", action="store_true", help="one round, fewer sessions")
    parser.add_argument("--sessions", type=int, help="signed-in sessions per round")
    parser.add_argument("--requests", type=int, default=3, help="concurrent requests a session")
    parser.add_argument("--rounds", type=int, help="rounds of every case")
    parser.add_argument(
        "--long-deadline", type=float, default=LONG_DEADLINE, help="the longer refresh deadline"
    )
    parser.add_argument("--driver", choices=DRIVERS, action="append", dest="drivers")
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    args.sessions = args.sessions or (10 if args.quick else 30)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.drivers = tuple(args.drivers or DRIVERS)
    args.latencies = LATENCIES
    if args.long_deadline <= TIMEOUT:
        parser.error(f"--long-deadline must be longer than the timeout ({TIMEOUT} s)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    results = run(args, log)
    rows = summary(results)
    print()
    print(render(rows, args.sessions, args.requests))
    now = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"faults-{now:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "refresh-deadline",
        "when": now.isoformat(timespec="seconds"),
        "timeout_s": TIMEOUT,
        "access_ttl_s": ACCESS_TTL,
        "refresh_leeway_s": LEEWAY,
        "summary": rows,
        "rounds": [asdict(r) for r in results],
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
