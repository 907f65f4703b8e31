"""Scratch measurement: the cost our ASGI middleware adds with 1 vs N active sessions.

One session signs in through the in-process sandbox; its record is copied (re-sealed)
under N-1 more fresh handles in a ``MemoryStore`` sized for them, so every handle is a real
signed-in session. Interleaved rounds then serve ``bare`` (no middleware), ``one`` (the same
session every request) and ``many`` (the N sessions round-robin, each warmed once), and print
the added cost per request and the ratio many/one as min/median/max over the rounds.

``--gate-sized`` keeps ``web.Gate``'s memo of answers per session from being cleared at
10,000 entries (a dict that reports itself empty: scratch only, to show what that memo
costs once it is sized like the others).

    PYTHONPATH=src:integrations:. python scratch/many_sessions.py --sessions 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time

from benchmarks.bench_asgi import InProcessCase, _discard, _receive
from benchmarks.variants import OTHER_COOKIE, RedtrustSetup

from redtrust_middleware.login import new_handle
from redtrust_middleware.session import AsyncSessionManager
from redtrust_middleware.stores import MemoryStore


async def _serve(case: InProcessCase, cookies: list[bytes], count: int) -> float:
    """Seconds per request for ``count`` requests, cycling through ``cookies``."""
    app, template = case.app, case.scope()
    headers = template["headers"][:-1]
    scopes = [{**template, "headers": [*headers, (b"cookie", c)]} for c in cookies]
    n = len(scopes)
    start = time.perf_counter()
    for i in range(count):
        await app(dict(scopes[i % n]), _receive, _discard)
    return (time.perf_counter() - start) / count


class _NeverFull(dict[int, object]):
    def __len__(self) -> int:
        return 0


async def main(sessions: int, rounds: int, requests: int, *, gate_sized: bool) -> None:
    setup = RedtrustSetup()
    store = MemoryStore(max_entries=sessions + 1000)
    setup.memory = store
    setup.manager = AsyncSessionManager(setup.config, store=store, client=setup.client)
    first = await setup.sign_in()
    flows = setup.manager.flows
    key = flows.session_key(setup.handle or "")
    raw = flows.keyring.open(store.get(key) or b"", context=key)
    assert raw is not None
    cookies = [f"{OTHER_COOKIE}; {first}".encode()]
    for _ in range(sessions - 1):
        handle = new_handle()
        other = flows.session_key(handle)
        store.set(other, flows.seal(other, raw), ttl=3000)
        cookies.append(f"{OTHER_COOKIE}; {setup.cookie_name}={handle}".encode())
    ours = InProcessCase("redtrust", setup.wrap, "")
    bare = InProcessCase("bare", lambda app: app, "")
    if gate_sized:
        ours.app.gate._proceeds = _NeverFull()  # type: ignore[attr-defined]
    await _serve(ours, cookies, len(cookies))  # warm: every session opened once
    await _serve(ours, cookies[:1], 1000)
    await _serve(bare, cookies[:1], 1000)
    added_one, added_many, ratios = [], [], []
    gc.collect()
    for _ in range(rounds):
        base = await _serve(bare, cookies[:1], requests)
        one = await _serve(ours, cookies[:1], requests) - base
        many = await _serve(ours, cookies, requests) - base
        added_one.append(one * 1e6)
        added_many.append(many * 1e6)
        ratios.append(many / one)
    assert setup.refresh_calls() == 0

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"

    sys.stdout.write(f"gate memo sized: {gate_sized}" + "\n")
    sys.stdout.write(
        f"sessions={sessions} rounds={rounds} requests/round={requests} (min / median / max)" + "\n"
    )
    sys.stdout.write(f"  added µs, 1 session:   {spread(added_one)}" + "\n")
    sys.stdout.write(f"  added µs, {sessions} round-robin: {spread(added_many)}" + "\n")
    sys.stdout.write(f"  ratio many / one:      {spread(ratios)}  (target <= 2)" + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--gate-sized", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.rounds, args.requests, gate_sized=args.gate_sized))
