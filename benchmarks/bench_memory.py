"""Benchmark: logins per second with the memory store empty and with it full.

Anyone can start logins, and every start writes a pending login to the store, so anyone can
fill ``MemoryStore``'s pending-login namespace (100,000 entries by default); from then on
each start evicts one. This times ``begin_login`` (a new browser each time) through
``SessionManager`` and ``AsyncSessionManager`` on a fresh, empty ``MemoryStore`` next to one
whose pending-login namespace is full, in interleaved rounds, and prints logins per second
(min/median/max over the rounds) and the full/empty ratio of the medians (target: at least
0.9). ``MemoryStore.set`` alone is timed the same way, empty and full.

Run ``python -m benchmarks memory`` (``--quick`` for a short run). The table is printed and
the figures are written to ``benchmarks/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redtrust_middleware import AsyncSessionManager, RedtrustConfig, SessionManager
from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.testing import make_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET = 0.9  # full / empty, logins per second
VARIANTS = ("sync-empty", "sync-full", "async-empty", "async-full")
# The namespace the session layer keeps pending logins in (checked by ``fill``).
PENDING = "redtrust:pending:"


@dataclass
class Spread:
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(min(values), statistics.median(values), max(values))


@dataclass
class MemoryResult:
    max_entries: int
    logins_per_round: int
    rounds: int
    logins_per_second: dict[str, Spread]
    full_vs_empty: dict[str, float]
    set_us: dict[str, Spread]


def fill(store: MemoryStore, config: RedtrustConfig, max_entries: int) -> None:
    """Fill the pending-login namespace as a flood of login starts would (same size values)."""
    value = b"\x00" * 320  # about the size of a sealed pending login
    for number in range(max_entries):
        store.set(f"{PENDING}{number:064x}", value, ttl=config.pending_login_ttl)


def check_full(store: MemoryStore, max_entries: int) -> None:
    """Still exactly full: the starts went to the filled namespace and nothing expired."""
    if len(store) != max_entries:
        raise RuntimeError(
            f"the store holds {len(store)} entries, not {max_entries}: begin_login writes to "
            f"another namespace than {PENDING!r}, or the run outlived the pending-login TTL"
        )


def time_sync(manager: SessionManager, count: int) -> float:
    """Logins started per second over ``count`` starts."""
    begin = manager.begin_login
    started = time.perf_counter()
    for _ in range(count):
        begin(next_url="/")
    return count / (time.perf_counter() - started)


async def time_async(manager: AsyncSessionManager, count: int) -> float:
    begin = manager.begin_login
    started = time.perf_counter()
    for _ in range(count):
        await begin(next_url="/")
    return count / (time.perf_counter() - started)


def time_set(store: MemoryStore, count: int, offset: int) -> float:
    """Microseconds per ``MemoryStore.set`` of a new pending-login key."""
    set_ = store.set
    keys = [f"{PENDING}set-{offset + number}" for number in range(count)]
    value = b"\x00" * 320
    started = time.perf_counter()
    for key in keys:
        set_(key, value, ttl=600)
    return (time.perf_counter() - started) / count * 1e6


async def run(
    logins: int, rounds: int, max_entries: int, log: Callable[[str], None]
) -> MemoryResult:
    """Interleaved rounds of ``logins`` starts per variant, and as many plain writes."""
    config = make_config()
    full_store = MemoryStore(max_entries=max_entries)
    fill(full_store, config, max_entries)
    full_sync = SessionManager(config, store=full_store)
    full_async = AsyncSessionManager(config, store=full_store)
    full_sync.begin_login(next_url="/")
    check_full(full_store, max_entries)
    set_full = MemoryStore(max_entries=max_entries)
    fill(set_full, config, max_entries)

    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sets: dict[str, list[float]] = {"empty": [], "full": []}
    closing: list[SessionManager | AsyncSessionManager] = [full_sync, full_async]
    gc.collect()
    for round_ in range(rounds):
        log(f"round {round_ + 1}/{rounds}")
        # A new empty store each round, so that "empty" stays far from full.
        empty = MemoryStore(max_entries=max_entries)
        empty_sync = SessionManager(config, store=empty)
        empty_async = AsyncSessionManager(config, store=empty)
        closing += [empty_sync, empty_async]
        rates["sync-empty"].append(time_sync(empty_sync, logins))
        rates["sync-full"].append(time_sync(full_sync, logins))
        rates["async-empty"].append(await time_async(empty_async, logins))
        rates["async-full"].append(await time_async(full_async, logins))
        sets["empty"].append(time_set(MemoryStore(max_entries=max_entries), logins, 0))
        sets["full"].append(time_set(set_full, logins, round_ * logins))
    check_full(full_store, max_entries)
    check_full(set_full, max_entries)
    for manager in closing:
        if isinstance(manager, SessionManager):
            manager.close()
        else:
            await manager.aclose()

    spreads = {name: Spread.of(values) for name, values in rates.items()}
    return MemoryResult(
        max_entries=max_entries,
        logins_per_round=logins,
        rounds=rounds,
        logins_per_second=spreads,
        full_vs_empty={
            driver: spreads[f"{driver}-full"].median / spreads[f"{driver}-empty"].median
            for driver in ("sync", "async")
        },
        set_us={name: Spread.of(values) for name, values in sets.items()},
    )


def render(result: MemoryResult) -> str:
    lines = [
        f"logins started per second (begin_login), MemoryStore(max_entries="
        f"{result.max_entries:,}), {result.rounds} rounds of {result.logins_per_round:,}:",
        "",
        f"{'driver':<7} {'store':<6} {'min':>9} {'median':>9} {'max':>9}   full/empty",
    ]
    for driver in ("sync", "async"):
        for state in ("empty", "full"):
            spread = result.logins_per_second[f"{driver}-{state}"]
            ratio = f"   {result.full_vs_empty[driver]:.3f}" if state == "full" else ""
            lines.append(
                f"{driver:<7} {state:<6} {spread.min:>9,.0f} {spread.median:>9,.0f} "
                f"{spread.max:>9,.0f}{ratio}"
            )
    lines += ["", "MemoryStore.set of a new pending login, µs per write:"]
    for state in ("empty", "full"):
        spread = result.set_us[state]
        lines.append(
            f"        {state:<6} {spread.min:>9.2f} {spread.median:>9.2f} {spread.max:>9.2f}"
        )
    full, empty = result.set_us["full"].median, result.set_us["empty"].median
    lines.append(f"        full/empty {full / empty:.2f}")
    verdict = "met" if targets_met(result) else "MISSED"
    lines.append(f"\ntarget: logins/s with the store full >= {TARGET:.0%} of empty: {verdict}")
    return "\n".join(lines)


def targets_met(result: MemoryResult) -> bool:
    """Full within 10 % of empty, for both drivers."""
    return all(ratio >= TARGET for ratio in result.full_vs_empty.values())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks memory",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    parser.add_argument("--logins", type=int, help="login starts per variant and round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--max-entries", type=int, default=100_000, help="the store's bound")
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    args.logins = args.logins or (500 if args.quick else 2_000)
    args.rounds = args.rounds or (3 if args.quick else 9)
    if args.logins < 1 or args.rounds < 1 or args.max_entries < 1:
        parser.error("logins, rounds and max-entries must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = asyncio.run(run(args.logins, args.rounds, args.max_entries, log))
    print()
    print(render(result))
    now = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"memory-{now:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "benchmark": "memory-store-full",
        "when": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "result": asdict(result),
        "target_full_within_10_percent": targets_met(result),
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 1 if args.strict and not targets_met(result) else 0


if __name__ == "__main__":
    sys.exit(main())
