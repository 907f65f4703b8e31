"""Benchmark: what the Flask extension costs a view, next to Flask's own cookie session.

The three variants of :mod:`benchmarks.flask_variants` are measured in one run:

* in-process: the WSGI app is called directly (no server, no socket); after a warm-up,
  interleaved rounds time each variant in turn; min, median and max per-request times;
* over sockets: ``bare`` and ``redtrust`` each under gunicorn (one worker, ``gthread``, own
  process, 127.0.0.1), loaded by ``wrk`` over loopback in interleaved rounds.

Targets: in-process, Redtrust adds less than Flask's own session read
(``(redtrust - bare) < (session - bare)``); over sockets, ``redtrust`` serves at least 0.90 of
the bare app's requests/s.

``python -m benchmarks.bench_flask`` (``--quick`` for a short run, ``--no-sockets`` without
wrk); ``make bench-flask``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from benchmarks.bench_asgi import Server, run_wrk
from benchmarks.flask_variants import VARIANTS, build

ROOT = Path(__file__).resolve().parent.parent
HEADERS: dict[str, str] = {"Accept": "text/html", "User-Agent": "bench", "Accept-Language": "en"}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    _start_response.status = status  # type: ignore[attr-defined]
    return None


def time_in_process(requests: int, rounds: int) -> dict[str, list[float]]:
    """Per-request microseconds of each variant, one figure per round (interleaved)."""
    cases = {}
    for variant in VARIANTS:
        app, cookie = build(variant)
        headers: dict[str, str] = {**HEADERS, "Cookie": cookie}
        builder = EnvironBuilder(
            path="/", base_url="https://app.test", headers=list(headers.items())
        )
        template = builder.get_environ()
        cases[variant] = (app, template)
        answer = b"".join(app(dict(template), _start_response))
        if _start_response.status != "200 OK" or answer != b"ok":  # type: ignore[attr-defined]
            raise SystemExit(f"{variant}: answered {_start_response.status} {answer!r}")  # type: ignore[attr-defined]
    figures: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for round_ in range(rounds + 1):  # the first round warms up and is not counted
        for variant, (app, template) in cases.items():
            gc.collect()
            started = time.perf_counter()
            for _ in range(requests):
                environ = dict(template)
                environ["wsgi.input"] = io.BytesIO()
                for _chunk in app(environ, _start_response):
                    pass
            if round_:
                figures[variant].append((time.perf_counter() - started) / requests * 1e6)
    return figures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def gunicorn(variant: str, workdir: Path) -> Iterator[Server]:
    """``variant`` under gunicorn until the block ends (then stopped, killed if need be)."""
    port = _free_port()
    state, log = workdir / f"{variant}.json", workdir / f"{variant}.log"
    env = {
        **os.environ,
        "BENCH_VARIANT": variant,
        "BENCH_PORT": str(port),
        "BENCH_STATE": str(state),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "gunicorn", "benchmarks.flask_variants:from_environment()",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
        "--threads", "4", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(variant=variant, port=port, state=state, log=log, process=process)
    try:
        deadline = time.monotonic() + 30
        while not server.cookie:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{variant}: gunicorn did not start:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                server.cookie = json.loads(state.read_text())["cookie"]
            time.sleep(0.05)  # polling with a deadline
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sockets(rounds: int, duration: float, connections: int) -> dict[str, list[float]]:
    """Requests/s of ``bare`` and ``redtrust`` under gunicorn, one figure per round."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or use --no-sockets)")
    figures: dict[str, list[float]] = {"bare": [], "redtrust": []}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-flask-")))
        running = {name: stack.enter_context(gunicorn(name, tmp)) for name in figures}
        for server in running.values():
            run_wrk(server, duration=1, connections=connections)  # warm-up
        for _ in range(rounds):
            for name, server in running.items():
                run = run_wrk(server, duration=duration, connections=connections)
                if run.errors:
                    raise SystemExit(f"{name}: wrk counted {run.errors} errors")
                figures[name].append(run.requests_per_second)
    return figures


def spread(values: Sequence[float], unit: str) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.1f} {unit} (min {low:,.1f}, max {high:,.1f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--no-sockets", action="store_true", help="in-process only")
    parser.add_argument("--requests", type=int, help="requests per in-process round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    args = parser.parse_args(argv)
    requests = args.requests or (500 if args.quick else 5000)
    rounds = args.rounds or (3 if args.quick else 9)
    inproc = time_in_process(requests, rounds)
    median = {variant: statistics.median(values) for variant, values in inproc.items()}
    print(f"in-process, {requests} requests x {rounds} rounds, per request:")
    for variant, values in inproc.items():
        print(f"  {variant:<9} {spread(values, 'µs')}")
    session_adds, ours_adds = (
        median["session"] - median["bare"],
        median["redtrust"] - median["bare"],
    )
    met = ours_adds < session_adds
    print(f"  Flask's session read adds {session_adds:.1f} µs, Redtrust adds {ours_adds:.1f} µs")
    print(f"  target Redtrust < session: {'met' if met else 'MISSED'}")
    if not args.no_sockets:
        socket_rounds = 3 if args.quick else 5
        duration = 2.0 if args.quick else 5.0
        rps = sockets(socket_rounds, duration, connections=16)
        print(f"gunicorn gthread (1 worker, 4 threads), wrk -c16 {duration:g}s x {socket_rounds}:")
        for name, values in rps.items():
            print(f"  {name:<9} {spread(values, 'req/s')}")
        ratio = statistics.median(rps["redtrust"]) / statistics.median(rps["bare"])
        verdict = "met" if ratio >= 0.9 else "MISSED"
        print(f"  redtrust / bare: {ratio:.3f} (target >= 0.90: {verdict})")
        met = met and ratio >= 0.9
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
