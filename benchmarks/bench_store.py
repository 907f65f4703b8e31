"""Benchmark: what a signed-in request costs with ``RedisStore`` next to ``MemoryStore``.

One run, four variants side by side: the sync ``SessionManager`` and the
``AsyncSessionManager``, each on a ``MemoryStore`` and on a ``RedisStore`` talking to a local
``redis-server`` (started for the run, loopback, no persistence). Every variant serves
``manager.get(handle)`` for one signed-in user whose token is fresh, which is what every
request with a session cookie does. Rounds are interleaved and the median per-request time
is reported, with the Redis/memory ratio.

The Redis round trips are counted on the server (``INFO commandstats`` before and after the
timed requests): the target is one ``GET`` per request and no write.

Run ``python -m benchmarks store`` (``--quick`` for a short run). The table is printed and
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from redtrust_middleware import AsyncClient, AsyncSessionManager, Client, SessionManager
from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.stores.redis import RedisStore
from redtrust_middleware.testing import TEST_USERS, RedisServer, make_config, make_sandbox

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = ("sync-memory", "sync-redis", "async-memory", "async-redis")
WRITES = ("set", "getdel", "del", "evalsha", "eval", "pexpire", "script|load", "script")


@dataclass
class StoreResult:
    requests_per_round: int
    rounds: int
    us_per_request: dict[str, float]
    redis_vs_memory: dict[str, float]
    redis_commands_per_request: dict[str, dict[str, float]]
    refreshes: int


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Calls per command so far, from ``INFO commandstats`` (``cmdstat_get`` -> ``get``)."""
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands run between two snapshots, leaving out the snapshots' own ``INFO``."""
    return {
        name: after[name] - before.get(name, 0)
        for name in after
        if name != "info" and after[name] != before.get(name, 0)
    }


def sign_in_sync(manager: SessionManager, sandbox: Any) -> str:
    start = manager.begin_login(next_url="/")
    location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
    done = manager.complete_login(
        query=urlsplit(location).query, browser_nonces=start.browser_nonces
    )
    return done.handle


async def sign_in_async(manager: AsyncSessionManager, sandbox: Any) -> str:
    start = await manager.begin_login(next_url="/")
    location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
    done = await manager.complete_login(
        query=urlsplit(location).query, browser_nonces=start.browser_nonces
    )
    return done.handle


def time_sync(manager: SessionManager, handle: str, count: int) -> float:
    """Seconds per ``get`` over ``count`` calls."""
    get = manager.get
    started = time.perf_counter()
    for _ in range(count):
        if get(handle) is None:
            raise RuntimeError("the session was lost during the benchmark")
    return (time.perf_counter() - started) / count


async def time_async(manager: AsyncSessionManager, handle: str, count: int) -> float:
    get = manager.get
    started = time.perf_counter()
    for _ in range(count):
        if await get(handle) is None:
            raise RuntimeError("the session was lost during the benchmark")
    return (time.perf_counter() - started) / count


async def run(url: str, requests: int, rounds: int, warmup: int, log: Any) -> StoreResult:
    """Sign one user in per variant, then time interleaved rounds of ``get``."""
    sandbox = make_sandbox(access_token_ttl=3600)
    config = make_config()
    sync_redis = RedisStore(url=url, prefix="bench-sync:")
    async_redis = RedisStore(url=url, prefix="bench-async:")
    sync_managers = {
        "sync-memory": SessionManager(
            config, store=MemoryStore(), client=Client(config, transport=sandbox.transport())
        ),
        "sync-redis": SessionManager(
            config, store=sync_redis, client=Client(config, transport=sandbox.transport())
        ),
    }
    async_managers = {
        "async-memory": AsyncSessionManager(
            config,
            store=MemoryStore(),
            client=AsyncClient(config, transport=sandbox.async_transport()),
        ),
        "async-redis": AsyncSessionManager(
            config,
            store=async_redis,
            client=AsyncClient(config, transport=sandbox.async_transport()),
        ),
    }
    handles = {name: sign_in_sync(m, sandbox) for name, m in sync_managers.items()}
    for name, manager in async_managers.items():
        handles[name] = await sign_in_async(manager, sandbox)
    refreshes_before = sandbox.calls["refresh"]

    per_round = max(1, requests // rounds)
    for name, sync_manager in sync_managers.items():
        time_sync(sync_manager, handles[name], warmup)
    for name, async_manager in async_managers.items():
        await time_async(async_manager, handles[name], warmup)

    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    commands: dict[str, dict[str, int]] = {"sync-redis": {}, "async-redis": {}}
    with redis.Redis.from_url(url) as control:
        gc.collect()
        for round_ in range(rounds):
            log(f"round {round_ + 1}/{rounds}")
            for name in VARIANTS:
                before = command_counts(control)
                if name in sync_managers:
                    seconds = time_sync(sync_managers[name], handles[name], per_round)
                else:
                    seconds = await time_async(async_managers[name], handles[name], per_round)
                samples[name].append(seconds * 1e6)
                if name in commands:
                    for command, calls in delta(before, command_counts(control)).items():
                        commands[name][command] = commands[name].get(command, 0) + calls
    sync_redis.close()
    await async_redis.aclose()
    for sync_manager in sync_managers.values():
        sync_manager.close()
    for async_manager in async_managers.values():
        await async_manager.aclose()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    total = per_round * rounds
    return StoreResult(
        requests_per_round=per_round,
        rounds=rounds,
        us_per_request=medians,
        redis_vs_memory={
            "sync": medians["sync-redis"] / medians["sync-memory"],
            "async": medians["async-redis"] / medians["async-memory"],
        },
        redis_commands_per_request={
            name: {command: calls / total for command, calls in sorted(counted.items())}
            for name, counted in commands.items()
        },
        refreshes=sandbox.calls["refresh"] - refreshes_before,
    )


def render(result: StoreResult) -> str:
    lines = [
        "per signed-in request (fresh token), median of interleaved rounds:",
        "",
        f"{'driver':<8} {'MemoryStore':>14} {'RedisStore':>14} {'added':>12} {'Redis/memory':>14}",
    ]
    for driver in ("sync", "async"):
        memory = result.us_per_request[f"{driver}-memory"]
        redis_ = result.us_per_request[f"{driver}-redis"]
        lines.append(
            f"{driver:<8} {memory:>11.1f} µs {redis_:>11.1f} µs {redis_ - memory:>9.1f} µs "
            f"{result.redis_vs_memory[driver]:>13.1f}x"
        )
    lines.append("")
    for name, per_request in result.redis_commands_per_request.items():
        shown = ", ".join(f"{k} {v:g}" for k, v in per_request.items()) or "none"
        writes = sum(v for k, v in per_request.items() if k in WRITES)
        lines.append(f"Redis commands per request, {name}: {shown} (writes: {writes:g})")
    lines.append(f"token refreshes during the run: {result.refreshes}")
    lines.append("(the RedisStore time is mostly one loopback round trip to redis-server)")
    return "\n".join(lines)


def targets_met(result: StoreResult) -> bool:
    """One GET per request and no write, for both drivers."""
    return all(
        per_request == {"get": 1.0} for per_request in result.redis_commands_per_request.values()
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks store",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    parser.add_argument("--requests", type=int, help="timed requests per variant")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--redis-url", help="use this Redis instead of starting redis-server")
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.requests = args.requests or (2_000 if args.quick else 20_000)
    args.rounds = args.rounds or (4 if args.quick else 10)
    args.warmup = 200 if args.quick else 2_000
    if args.requests < args.rounds or args.rounds < 1:
        parser.error("need at least one request per round and one round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    if args.redis_url:
        result = asyncio.run(run(args.redis_url, args.requests, args.rounds, args.warmup, log))
    else:
        with RedisServer() as server:
            log(f"redis-server on 127.0.0.1:{server.port}")
            result = asyncio.run(run(server.url, args.requests, args.rounds, args.warmup, log))
    print()
    print(render(result))
    now = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"store-{now:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "store-overhead",
        "when": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "redis": "external" if args.redis_url else "local redis-server",
        "result": asdict(result),
        "target_one_get_no_write": targets_met(result),
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 1 if args.strict and not targets_met(result) else 0


if __name__ == "__main__":
    sys.exit(main())
