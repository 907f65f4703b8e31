"""Benchmark: what ``RedtrustMiddleware`` costs a Starlette endpoint, next to ``SessionMiddleware``.

Four variants of one endpoint (see :mod:`benchmarks.variants`) are measured in one run:

* in-process: the ASGI app is called directly (no server, no socket) with a minimal
  receive/send pair; after a warm-up, interleaved rounds time each variant in turn and the
  median per-request time is reported;
* over sockets: each variant runs under uvicorn (one worker, own process, 127.0.0.1) and
  ``wrk`` loads it over loopback, in interleaved rounds; the median requests/s is reported.

Targets (from the issue):

* in-process, the cost our middleware adds per request is at most a third of what
  ``SessionMiddleware`` adds: ``(redtrust - bare) / (session - bare) <= 1/3``;
* over sockets, ``redtrust`` serves at least 0.90 of the bare app's requests/s;
* requests without a session cookie touch no store (counted with a wrapping store).

Run ``python -m benchmarks`` (``--quick`` for a short run, ``--help`` for options). The table
is printed and the figures are written to ``benchmarks/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import gc
import http.client
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchmarks.variants import (
    OTHER_COOKIE,
    VARIANTS,
    RedtrustSetup,
    bare_app,
    session_cookie,
    with_session,
)

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

ADDED_COST_TARGET = 1 / 3
SOCKET_RATIO_TARGET = 0.90

LABELS = {
    "bare": "bare Starlette",
    "session": "+ SessionMiddleware",
    "redtrust": "+ RedtrustMiddleware",
    "redtrust-nocookie": "+ Redtrust, no cookie",
}

#: Headers a browser sends on a page load, besides the cookie (the same for every variant).
BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"host", b"app.test"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-GB,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"sec-fetch-mode", b"navigate"),
)


# -- in-process -------------------------------------------------------------------------------


@dataclass(slots=True)
class InProcessCase:
    """One variant as called in-process: its app, its Cookie header and a check."""

    name: str
    wrap: Callable[[ASGIApp], ASGIApp]  # the variant's middleware around an inner app
    cookie: str
    app: ASGIApp = field(init=False)

    def __post_init__(self) -> None:
        self.app = self.wrap(bare_app())

    def scope(self) -> Scope:
        headers = [*BASE_HEADERS, (b"cookie", self.cookie.encode("latin-1"))]
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 443),
            "state": {},
        }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    return None


async def _call(app: ASGIApp, scope: Scope) -> tuple[int, dict[str, list[str]], bytes]:
    """One request, answered in full: status, headers (lower-case names), body."""
    status = 0
    headers: dict[str, list[str]] = {}
    body = b""

    async def send(message: Message) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", ()):
                headers.setdefault(name.decode("latin-1").lower(), []).append(
                    value.decode("latin-1")
                )
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(dict(scope), _receive, send)
    return status, headers, body


def check_response(
    name: str, status: int, headers: dict[str, list[str]], body: bytes, cookie_name: str
) -> None:
    """The answer each variant must give, so no variant is timed doing the wrong thing."""
    problems = []
    if status != 200 or body != b"ok":
        problems.append(f"answered {status} {body[:60]!r}")
    cookies = headers.get("set-cookie", [])
    if name.startswith("redtrust") and cookies:
        problems.append(f"set cookies {cookies} (session not accepted?)")
    if name == "redtrust" and "Cookie" not in headers.get("vary", []):
        problems.append("no Vary: Cookie (the session cookie was not read)")
    if name == "session" and cookies:
        problems.append(f"set cookies {cookies}")
    if problems:
        raise SystemExit(f"{name}: {'; '.join(problems)} (cookie name {cookie_name})")


async def probe_identity(case: InProcessCase) -> str | None:
    """Who the variant's middleware says is signed in (``None`` when nobody)."""
    seen: dict[str, Any] = {}

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        seen["redtrust"] = scope.get("redtrust")
        seen["session"] = scope.get("session")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await case.wrap(probe)(case.scope(), _receive, _discard)
    context, session = seen.get("redtrust"), seen.get("session")
    if context is not None:
        return str(context.subject)
    if session:
        return str(session.get("username"))
    return None


async def _time_case(case: InProcessCase, count: int) -> float:
    """Seconds for ``count`` sequential requests."""
    app, template = case.app, case.scope()
    receive, send = _receive, _discard
    start = time.perf_counter()
    for _ in range(count):
        await app(dict(template), receive, send)
    return time.perf_counter() - start


@dataclass(slots=True)
class InProcessResult:
    us_per_request: dict[str, float]  # median over rounds
    best_us_per_request: dict[str, float]
    rounds_us: dict[str, list[float]]
    requests_per_variant: int
    rounds: int
    identity: dict[str, str | None]
    store_calls_per_request: dict[str, dict[str, float]]
    refresh_calls: int


async def run_in_process(
    requests: int, rounds: int, warmup: int, log: Callable[[str], None]
) -> InProcessResult:
    ours = RedtrustSetup("https://app.test")
    our_cookie = await ours.sign_in()
    cases = [
        InProcessCase("bare", lambda app: app, OTHER_COOKIE),
        InProcessCase("session", with_session, f"{OTHER_COOKIE}; {session_cookie()}"),
        InProcessCase("redtrust", ours.wrap, f"{OTHER_COOKIE}; {our_cookie}"),
        InProcessCase("redtrust-nocookie", ours.wrap, OTHER_COOKIE),
    ]
    identity: dict[str, str | None] = {}
    for case in cases:
        status, headers, body = await _call(case.app, case.scope())
        check_response(case.name, status, headers, body, ours.cookie_name)
        identity[case.name] = await probe_identity(case)
    expected = {"bare": None, "session": "alice", "redtrust": "alice", "redtrust-nocookie": None}
    if identity != expected:
        raise SystemExit(f"signed-in identity per variant is {identity}, expected {expected}")

    # Store calls, counted through a second manager over the same sessions (the timed
    # manager's store is not wrapped, so the counting costs the timed runs nothing).
    counted_manager, counting = ours.counting_manager()
    store_calls: dict[str, dict[str, float]] = {}
    sample = 1000
    for case in cases[2:]:
        counted = InProcessCase(case.name, lambda app: ours.wrap(app, counted_manager), case.cookie)
        counting.calls.clear()
        for _ in range(sample):
            await _call(counted.app, counted.scope())
        store_calls[case.name] = {k: v / sample for k, v in sorted(counting.calls.items())}
    await counted_manager.aclose()

    log(f"in-process: warm-up {warmup} requests per variant")
    for case in cases:
        await _time_case(case, warmup)
    chunk = max(1, requests // rounds)
    log(f"in-process: {rounds} interleaved rounds of {chunk} requests per variant")
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for index in range(rounds):
        gc.collect()
        shift = index % len(cases)
        for case in cases[shift:] + cases[:shift]:  # a different variant goes first each round
            seconds = await _time_case(case, chunk)
            samples[case.name].append(seconds / chunk * 1e6)
    refresh_calls = ours.refresh_calls()
    await ours.manager.aclose()
    return InProcessResult(
        us_per_request={k: statistics.median(v) for k, v in samples.items()},
        best_us_per_request={k: min(v) for k, v in samples.items()},
        rounds_us=samples,
        requests_per_variant=chunk * rounds,
        rounds=rounds,
        identity=identity,
        store_calls_per_request=store_calls,
        refresh_calls=refresh_calls,
    )


def profile_in_process(requests: int, top: int) -> str:
    """cProfile of ``requests`` in-process requests to ``redtrust``: the top functions."""

    async def run() -> cProfile.Profile:
        ours = RedtrustSetup("https://app.test")
        case = InProcessCase("redtrust", ours.wrap, f"{OTHER_COOKIE}; {await ours.sign_in()}")
        await _time_case(case, 2000)
        profiler = cProfile.Profile()
        profiler.enable()
        await _time_case(case, requests)
        profiler.disable()
        await ours.manager.aclose()
        return profiler

    profiler = asyncio.run(run())
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- over sockets -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class Server:
    """One uvicorn process serving one variant."""

    variant: str
    port: int
    state: Path
    log: Path
    process: subprocess.Popen[bytes]
    cookie: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def read_state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data


def start_server(variant: str, workdir: Path) -> Server:
    port = _free_port()
    state = workdir / f"{variant}.json"
    log = workdir / f"{variant}.log"
    env = {
        **os.environ,
        "BENCH_VARIANT": variant,
        "BENCH_PORT": str(port),
        "BENCH_STATE": str(state),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.server:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(variant=variant, port=port, state=state, log=log, process=process)


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    """Until the server wrote its cookie and answers on its port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(
                f"{server.variant} server exited ({server.process.returncode}):\n"
                + server.log.read_text(errors="replace")[-3000:]
            )
        if server.state.exists():
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                server.cookie = server.read_state()["cookie"]
                return
        time.sleep(0.05)
    raise SystemExit(f"{server.variant} server not ready after {timeout:.0f}s")


def get_over_socket(server: Server) -> tuple[int, dict[str, list[str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Cookie": server.cookie})
        response = connection.getresponse()
        headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
        return response.status, headers, response.read()
    finally:
        connection.close()


def stop_server(server: Server) -> None:
    """Graceful stop (uvicorn runs the lifespan shutdown), then a kill if it lingers."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@contextlib.contextmanager
def servers(variants: Sequence[str], workdir: Path) -> Iterator[dict[str, Server]]:
    """All variants' servers, stopped (killed if need be) on the way out, even on error."""
    running: dict[str, Server] = {}
    try:
        for variant in variants:
            running[variant] = start_server(variant, workdir)
        for server in running.values():
            wait_ready(server)
        yield running
    finally:
        for server in running.values():
            with contextlib.suppress(Exception):
                stop_server(server)
        for server in running.values():
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


@dataclass(slots=True)
class WrkRun:
    requests_per_second: float
    latency_avg_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx responses


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(server: Server, *, duration: float, connections: int, threads: int = 1) -> WrkRun:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "-H",
        f"Cookie: {server.cookie}",
        server.url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = done.stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)\b", out)
    if rps is None or total is None or latency is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkRun(
        requests_per_second=float(rps.group(1)),
        latency_avg_ms=float(latency.group(1)) * _UNITS[latency.group(2)],
        requests=int(total.group(1)),
        errors=errors,
    )


@dataclass(slots=True)
class SocketResult:
    requests_per_second: dict[str, float]  # median over rounds
    best_requests_per_second: dict[str, float]
    rounds_rps: dict[str, list[float]]
    latency_avg_ms: dict[str, float]  # median over rounds
    errors: dict[str, int]
    served: dict[str, dict[str, Any]]  # what each server counted (requests, store calls)
    duration: float
    connections: int
    rounds: int
    wrk: str
    uvicorn_http: str
    uvicorn_loop: str


def _uvicorn_impls() -> tuple[str, str]:
    """What uvicorn's ``auto`` picks here: (http, loop)."""
    http_impl = "httptools" if _importable("httptools") else "h11"
    loop = "uvloop" if _importable("uvloop") else "asyncio"
    return http_impl, loop


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_sockets(
    duration: float, warmup: float, connections: int, rounds: int, log: Callable[[str], None]
) -> SocketResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or use --no-sockets)")
    wrk_version = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    samples: dict[str, list[WrkRun]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="redtrust-bench-") as tmp:
        workdir = Path(tmp)
        with servers(VARIANTS, workdir) as running:
            log(f"sockets: {len(running)} uvicorn servers up on 127.0.0.1")
            for name, server in running.items():
                status, headers, body = get_over_socket(server)
                check_response(name, status, headers, body, "redtrust_session")
                if warmup > 0:
                    run_wrk(server, duration=warmup, connections=connections)
            for index in range(rounds):
                shift = index % len(VARIANTS)
                order = [*VARIANTS[shift:], *VARIANTS[:shift]]
                log(f"sockets: round {index + 1}/{rounds}, wrk -c{connections} {duration:g}s each")
                for name in order:
                    samples[name].append(
                        run_wrk(running[name], duration=duration, connections=connections)
                    )
        served = {}
        for name, server in running.items():
            try:
                state = server.read_state()
                state.pop("cookie", None)  # a session handle: not worth keeping
                served[name] = state
            except (OSError, ValueError) as error:
                served[name] = {"error": f"no final state: {error}"}
    http_impl, loop = _uvicorn_impls()
    return SocketResult(
        requests_per_second={
            k: statistics.median(r.requests_per_second for r in v) for k, v in samples.items()
        },
        best_requests_per_second={
            k: max(r.requests_per_second for r in v) for k, v in samples.items()
        },
        rounds_rps={k: [r.requests_per_second for r in v] for k, v in samples.items()},
        latency_avg_ms={
            k: statistics.median(r.latency_avg_ms for r in v) for k, v in samples.items()
        },
        errors={k: sum(r.errors for r in v) for k, v in samples.items()},
        served=served,
        duration=duration,
        connections=connections,
        rounds=rounds,
        wrk=wrk_version[0] if wrk_version else "wrk",
        uvicorn_http=http_impl,
        uvicorn_loop=loop,
    )


# -- report -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    name: str
    value: float
    limit: str
    passed: bool


def targets(inproc: InProcessResult | None, sockets: SocketResult | None) -> list[Target]:
    found = []
    if inproc is not None:
        us = inproc.us_per_request
        ratio = (us["redtrust"] - us["bare"]) / (us["session"] - us["bare"])
        found.append(
            Target(
                "in-process added cost, redtrust / SessionMiddleware",
                ratio,
                "<= 0.33",
                ratio <= ADDED_COST_TARGET,
            )
        )
    if sockets is not None:
        rps = sockets.requests_per_second
        ratio = rps["redtrust"] / rps["bare"]
        found.append(
            Target(
                "sockets req/s, redtrust / bare",
                ratio,
                ">= 0.90",
                ratio >= SOCKET_RATIO_TARGET,
            )
        )
    calls = []
    if inproc is not None:
        calls.append(sum(inproc.store_calls_per_request["redtrust-nocookie"].values()))
    if sockets is not None:
        store = sockets.served["redtrust-nocookie"].get("store_calls")
        calls.append(sum(store.values()) if isinstance(store, dict) else float("nan"))
    if calls:
        total = sum(calls)
        found.append(
            Target("store calls per request without a session cookie", total, "== 0", total == 0)
        )
    return found


def render(inproc: InProcessResult | None, sockets: SocketResult | None) -> str:
    lines = []
    header = f"{'variant':<24}"
    if inproc is not None:
        header += f"{'µs/req':>9}{'req/s':>10}{'x bare':>8}{'+µs':>8}"
    if sockets is not None:
        header += f"  |{'sockets req/s':>14}{'x bare':>8}{'lat ms':>8}"
    lines += [header, "-" * len(header)]
    for name in VARIANTS:
        row = f"{LABELS[name]:<24}"
        if inproc is not None:
            us, bare = inproc.us_per_request[name], inproc.us_per_request["bare"]
            added = "" if name == "bare" else f"{us - bare:+.2f}"
            row += f"{us:>9.2f}{1e6 / us:>10,.0f}{bare / us:>8.2f}{added:>8}"
        if sockets is not None:
            rps, bare_rps = sockets.requests_per_second[name], sockets.requests_per_second["bare"]
            row += f"  |{rps:>14,.0f}{rps / bare_rps:>8.2f}{sockets.latency_avg_ms[name]:>8.2f}"
        lines.append(row)
    notes = []
    if inproc is not None:
        notes.append(
            f"in-process: median of {inproc.rounds} interleaved rounds, "
            f"{inproc.requests_per_variant:,} requests per variant; x bare = bare µs / variant µs"
        )
    if sockets is not None:
        notes.append(
            f"sockets: uvicorn ({sockets.uvicorn_http}, {sockets.uvicorn_loop}), 1 worker; "
            f"{sockets.wrk.split(' [')[0]} -t1 -c{sockets.connections} -d{sockets.duration:g}s, "
            f"median of {sockets.rounds} interleaved rounds; x bare = variant req/s / bare req/s"
        )
    lines += ["", *notes, ""]
    for target in targets(inproc, sockets):
        verdict = "PASS" if target.passed else "FAIL"
        lines.append(f"{verdict}  {target.name}: {target.value:.2f} (target {target.limit})")
    return "\n".join(lines)


def facts(inproc: InProcessResult | None, sockets: SocketResult | None) -> str:
    """Store calls and refreshes, as counted (evidence for the third target)."""
    lines = []
    if inproc is not None:
        for name, calls in inproc.store_calls_per_request.items():
            shown = ", ".join(f"{k} {v:g}" for k, v in calls.items()) or "none"
            lines.append(f"in-process store calls per request, {LABELS[name]}: {shown}")
        lines.append(f"in-process token refreshes during the run: {inproc.refresh_calls}")
    if sockets is not None:
        for name in ("redtrust", "redtrust-nocookie"):
            served = sockets.served[name]
            calls = served.get("store_calls", {})
            shown = ", ".join(f"{k} {v:,}" for k, v in sorted(calls.items())) or "none"
            lines.append(
                f"sockets, {LABELS[name]}: {served.get('requests', 0):,} requests served, "
                f"store calls: {shown}, refreshes: {served.get('refresh_calls')}"
            )
        errors = {k: v for k, v in sockets.errors.items() if v}
        if errors:
            lines.append(f"sockets: wrk counted errors or non-2xx answers: {errors}")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": {
            name: version(name)
            for name in ("redtrust-middleware", "starlette", "uvicorn", "itsdangerous")
        },
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain")),
    }


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="a short run (about 20 s)")
    parser.add_argument("--requests", type=int, help="in-process requests per variant")
    parser.add_argument("--rounds", type=int, help="interleaved in-process rounds")
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--socket-rounds", type=int, help="interleaved wrk rounds")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process run")
    parser.add_argument("--no-sockets", action="store_true", help="skip the uvicorn/wrk run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile in-process requests to RedtrustMiddleware and print the top",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    quick = args.quick
    args.requests = args.requests or (4_000 if quick else 20_000)
    args.rounds = args.rounds or (4 if quick else 10)
    args.warmup = 1_000 if quick else 5_000
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.socket_warmup = 1.0
    args.socket_rounds = args.socket_rounds or (1 if quick else 3)
    if args.requests < args.rounds or args.rounds < 1 or args.socket_rounds < 1:
        parser.error("need at least one request per round and one round")
    if args.connections < 1 or args.duration <= 0:
        parser.error("need at least one connection and a positive duration")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    inproc = None
    if not args.no_in_process:
        inproc = asyncio.run(run_in_process(args.requests, args.rounds, args.warmup, log))
    sockets = None
    if not args.no_sockets:
        sockets = run_sockets(
            args.duration, args.socket_warmup, args.connections, args.socket_rounds, log
        )
    if inproc is None and sockets is None:
        print("nothing to measure: drop --no-in-process or --no-sockets", file=sys.stderr)
        return 2

    print()
    print(render(inproc, sockets))
    print()
    print(facts(inproc, sockets))
    found = targets(inproc, sockets)

    now = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"asgi-{now:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "starlette-asgi",
        "when": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "environment": environment(),
        "variants": {name: LABELS[name] for name in VARIANTS},
        "in_process": asdict(inproc) if inproc is not None else None,
        "sockets": asdict(sockets) if sockets is not None else None,
        "ratios": {
            "in_process_rps_vs_bare": (
                {k: inproc.us_per_request["bare"] / v for k, v in inproc.us_per_request.items()}
                if inproc is not None
                else None
            ),
            "sockets_rps_vs_bare": (
                {
                    k: v / sockets.requests_per_second["bare"]
                    for k, v in sockets.requests_per_second.items()
                }
                if sockets is not None
                else None
            ),
        },
        "targets": [asdict(t) for t in found],
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    if args.profile:
        print("\ncProfile, in-process requests to RedtrustMiddleware:\n")
        print(profile_in_process(20_000, 25))
    return 1 if args.strict and not all(t.passed for t in found) else 0


if __name__ == "__main__":
    sys.exit(main())
