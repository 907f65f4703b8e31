"""Benchmark: RedisStore's client-side cache (``client_cache=True``) on a real redis-server.

Three figures, each over interleaved rounds:

* **a hit**: µs per ``read_local`` of a kept session record, beside one ``GET`` of it, and the
  commands Redis ran during the hits (``INFO commandstats``: the target is 0);
* **a logout seen elsewhere**: worker A (its own store, connections and listener) deletes a
  record that worker B keeps; the time from just before A's ``DEL`` until B's listener has
  dropped it (B waits on its listener's condition, so the figure includes the thread's
  wake-up: an upper bound). The target is 1 ms;
* the same while B's main thread is busy computing (a worker serving requests): the
  listener thread then waits for the GIL, up to ``sys.getswitchinterval()``; shown, no target.

Run ``python -m benchmarks.bench_tracking`` (``--quick`` for a short run); ``make bench``
calls :func:`targets`.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import threading
import time
from typing import Any

import redis

from benchmarks.targets import Target, spread
from redtrust_middleware.stores import NOT_LOCAL
from redtrust_middleware.stores.redis import RedisStore
from redtrust_middleware.testing import RedisServer

SECTION = "Redis client-side cache (CLIENT TRACKING), redis-server on loopback"
KEY = "redtrust:session:" + "ab" * 32
RECORD = b"\x01" + b"r" * 900  # a sealed session record's size
LATENCY_TARGET_MS = 1.0


# INFO (the count's own) and PING (the listener's probe of a quiet connection, every 0.5 s
# whatever the requests) are not sent by requests.
_NOT_REQUESTS = ("cmdstat_info", "cmdstat_ping")


def _commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items() if name not in _NOT_REQUESTS)


def _hit_and_get(store: RedisStore, reads: int) -> tuple[float, float]:
    """µs per local hit and per GET, timed back to back."""
    read_local = store.read_local
    started = time.perf_counter()
    for _ in range(reads):
        read_local(KEY)
    hit = (time.perf_counter() - started) / reads * 1e6
    client = redis.Redis.from_url(store._url or "")
    try:
        gets = max(1, reads // 100)
        started = time.perf_counter()
        for _ in range(gets):
            client.get(KEY)
        get = (time.perf_counter() - started) / gets * 1e6
    finally:
        client.close()
    return hit, get


_BARRIERS = itertools.count()


def _settle(store: RedisStore) -> None:
    """Wait until ``store``'s listener was told of every write so far (a late invalidation
    would otherwise drop what the next read keeps)."""
    assert store.tracked is not None
    barrier = f"redtrust:session:barrier-{next(_BARRIERS)}"
    store.set(barrier, b"-", ttl=3600)  # no expiry (itself an invalidation) during the run
    if not store.tracked.wait_invalidated(barrier, 5.0):
        raise SystemExit("the listener was not told of a write within 5 s")


def _logout_latency(writer: RedisStore, reader: RedisStore, busy: bool) -> float:
    """ms from just before ``writer``'s DEL until ``reader`` dropped the record."""
    writer.set(KEY, RECORD, ttl=600)
    _settle(reader)
    if reader.get(KEY) != RECORD or reader.read_local(KEY) is NOT_LOCAL:
        raise SystemExit("the reader did not keep the record it read")
    tracked = reader.tracked
    assert tracked is not None
    stop = threading.Event()
    if busy:  # the reader's process computing meanwhile, as a worker serving requests
        spinner = threading.Thread(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    started = time.perf_counter()
    writer.delete(KEY)
    if not tracked.wait_dropped(KEY, 5.0):
        raise SystemExit("no invalidation dropped the record within 5 s")
    elapsed = (time.perf_counter() - started) * 1e3
    stop.set()
    if reader.read_local(KEY) is not NOT_LOCAL:
        raise SystemExit("the record was still served after its invalidation")
    return elapsed


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        total += sum(range(200))


def measure(rounds: int, quick: bool) -> dict[str, Any]:
    """Every figure of the benchmark, per round."""
    reads = 20_000 if quick else 200_000
    logouts = 20 if quick else 200
    with RedisServer() as server:
        reader = RedisStore(url=server.url, client_cache=True)
        writer = RedisStore(url=server.url, client_cache=True)
        raw = redis.Redis.from_url(server.url)
        try:
            for store in (reader, writer):
                if store.tracked is None or not store.tracked.wait_live(5.0):
                    raise SystemExit("the client-side cache did not start")
            hits, gets, idle, busy, commands = [], [], [], [], []
            for _ in range(rounds):
                writer.set(KEY, RECORD, ttl=600)
                _settle(reader)
                reader.get(KEY)
                before = _commands(raw)
                for _ in range(reads):
                    reader.read_local(KEY)
                commands.append(_commands(raw) - before)
                hit, get = _hit_and_get(reader, reads)
                hits.append(hit)
                gets.append(get)
                idle.append(
                    statistics.median(
                        _logout_latency(writer, reader, False) for _ in range(logouts)
                    )
                )
                busy.append(
                    statistics.median(
                        _logout_latency(writer, reader, True) for _ in range(max(1, logouts // 10))
                    )
                )
            return {
                "hit_us": hits,
                "get_us": gets,
                "commands_per_hit": [c / reads for c in commands],
                "logout_ms": idle,
                "logout_busy_ms": busy,
                "switch_interval_ms": sys.getswitchinterval() * 1e3,
            }
        finally:
            raw.close()
            reader.close()
            writer.close()


def targets(rounds: int = 7, *, quick: bool = False) -> list[Target]:
    """The client-side cache's targets beside their figures."""
    rounds = min(rounds, 2) if quick else rounds
    figures = measure(rounds, quick)
    logout, busy = spread(figures["logout_ms"]), spread(figures["logout_busy_ms"])
    hit, get = spread(figures["hit_us"]), spread(figures["get_us"])
    per_hit = max(figures["commands_per_hit"])
    return [
        Target(SECTION, "Redis commands per hit = 0", f"{per_hit:g} (every round)", per_hit == 0),
        Target(
            SECTION,
            "a hit, µs (shown beside one GET; no target)",
            f"{hit.format('µs', 3)}; a GET {get.format('µs', 1)}",
            True,
        ),
        Target(
            SECTION,
            f"a logout seen by another worker <= {LATENCY_TARGET_MS:g} ms",
            logout.format("ms", 3) + " (median of each round's logouts)",
            logout.median <= LATENCY_TARGET_MS,
        ),
        Target(
            SECTION,
            "the same, the reader running pure-Python CPU work (worst case, no target; "
            f"GIL switch {figures['switch_interval_ms']:g} ms)",
            busy.format("ms", 3),
            True,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    from benchmarks.targets import report

    return 0 if report(targets(args.rounds, quick=args.quick)) else 1


if __name__ == "__main__":
    sys.exit(main())
