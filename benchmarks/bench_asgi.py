"""Benchmark: what ``RedtrustMiddleware`` costs a Starlette endpoint, next to ``SessionMiddleware``.

Variants of one endpoint (see :mod:`benchmarks.variants`), measured in one run:

* in-process: the ASGI app is called directly (no server, no socket) with a minimal
  receive/send pair; after a warm-up, interleaved rounds time each variant in turn: bare,
  ``SessionMiddleware``, the floor (:class:`~benchmarks.variants.FloorMiddleware`: what any
  middleware reading a session cookie and adding ``Vary: Cookie`` costs), ours signed in
  (one session), ours without a cookie, and ours with many sessions (100,000 by default)
  requested round-robin. A round times each variant a few times over a short run of
  requests and keeps the fastest (other work on the machine only adds time);
* over sockets: bare, the floor and ours under uvicorn (one worker, own process, 127.0.0.1)
  on h11 and on httptools + uvloop, loaded by ``wrk`` over loopback in interleaved rounds,
  each sent the same signed-in browser's Cookie header.

Every figure is reported as the median, min and max over the rounds, a ratio computed within
each round. Targets: our added cost <= 2 µs and <= 0.15 of what
``SessionMiddleware`` adds; many sessions <= 2 x the one-session added cost; on httptools +
uvloop >= 0.93 of the bare app's requests/s; no store call without a session cookie.

``python -m benchmarks asgi`` runs this alone (``--quick``, ``--help``); ``make bench`` runs it
with every other section (:mod:`benchmarks.suite`).
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
import itertools
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
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchmarks.targets import Target, report, spread
from benchmarks.variants import (
    OTHER_COOKIE,
    RedtrustSetup,
    bare_app,
    session_cookie,
    with_floor,
    with_session,
)

__all__ = ["main", "record", "run", "section_targets"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


LABELS = {
    "bare": "bare Starlette",
    "session": "+ SessionMiddleware",
    "floor": "+ floor (cookie, scope, Vary)",
    "redtrust": "+ RedtrustMiddleware",
    "redtrust-nocookie": "+ Redtrust, no cookie",
    "redtrust-many": "+ Redtrust, many sessions",
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

#: Each round times each variant this many times and keeps the fastest.
TIMINGS_PER_ROUND = 5


@dataclass(slots=True)
class InProcessCase:
    """One variant as called in-process: its app, its Cookie header(s) and a check.

    With ``more_cookies`` the requests cycle round-robin through ``cookie`` and them (many
    sessions). Each request gets a header list and Cookie value of its own, as a server
    builds them from the bytes it just read: made fresh, from one buffer of every cookie read
    in order, so no variant finds its cookie in cold memory that a server would have handed
    it warm. Every variant's timing loop does the same, so it costs none of them more than
    another.
    """

    name: str
    wrap: Callable[[ASGIApp], ASGIApp]  # the variant's middleware around an inner app
    cookie: str
    more_cookies: Sequence[str] = ()
    app: ASGIApp = field(init=False)
    cookies: bytes = field(init=False)  # every Cookie value, one after the other
    ends: array[int] = field(init=False)  # where each one ends in ``cookies`` (0 first)
    position: int = 0  # the next cookie, kept across rounds (round-robin goes on)

    def __post_init__(self) -> None:
        self.app = self.wrap(bare_app())
        values = [cookie.encode("latin-1") for cookie in (self.cookie, *self.more_cookies)]
        self.cookies = b"".join(values)
        self.ends = array("Q", itertools.accumulate((len(v) for v in values), initial=0))

    @property
    def count(self) -> int:
        """How many Cookie values the case cycles through."""
        return len(self.ends) - 1

    def headers(self, index: int) -> list[tuple[bytes, bytes]]:
        """The headers of a request with the ``index``-th Cookie value."""
        cookie = self.cookies[self.ends[index] : self.ends[index + 1]]
        return [*BASE_HEADERS, (b"cookie", cookie)]

    def scope(self) -> Scope:
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
            "headers": self.headers(0),
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
    if name in ("redtrust", "floor") and "Cookie" not in headers.get("vary", []):
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
    """Seconds for ``count`` sequential requests (round-robin over the case's cookies)."""
    app, template = case.app, case.scope()
    receive, send = _receive, _discard
    cookies, ends, at, size = case.cookies, case.ends, case.position, case.count
    start = time.perf_counter()
    for _ in range(count):
        scope = dict(template)
        scope["headers"] = [*BASE_HEADERS, (b"cookie", cookies[ends[at] : ends[at + 1]])]
        at += 1
        if at == size:
            at = 0
        await app(scope, receive, send)
    elapsed = time.perf_counter() - start
    case.position = at
    return elapsed


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
    sessions: int = 0  # sessions of ``redtrust-many`` (0: not measured)
    sign_in_seconds: float = 0.0


async def run_in_process(
    requests: int, rounds: int, warmup: int, log: Callable[[str], None], sessions: int = 0
) -> InProcessResult:
    """Every in-process variant, in interleaved rounds; with ``sessions`` also
    ``redtrust-many``: that many signed-in sessions, requested round-robin, on a manager and a
    :class:`~redtrust_middleware.stores.MemoryStore` of their own sized for them."""
    ours = RedtrustSetup("https://app.test")
    our_cookie = await ours.sign_in()
    cases = [
        InProcessCase("bare", lambda app: app, OTHER_COOKIE),
        InProcessCase("session", with_session, f"{OTHER_COOKIE}; {session_cookie()}"),
        InProcessCase("floor", with_floor, f"{OTHER_COOKIE}; {our_cookie}"),
        InProcessCase("redtrust", ours.wrap, f"{OTHER_COOKIE}; {our_cookie}"),
        InProcessCase("redtrust-nocookie", ours.wrap, OTHER_COOKIE),
    ]
    many: RedtrustSetup | None = None
    sign_in_seconds = 0.0
    if sessions > 0:
        many = RedtrustSetup("https://app.test", max_entries=2 * sessions + 1_000)
        log(f"in-process: signing {sessions:,} sessions in (about 1-2 ms each)")
        began = time.perf_counter()
        cookies = await many.sign_in_many(
            sessions, lambda done: log(f"in-process: {done:,}/{sessions:,} signed in")
        )
        sign_in_seconds = time.perf_counter() - began
        pairs = [f"{OTHER_COOKIE}; {cookie}" for cookie in cookies]
        cases.append(InProcessCase("redtrust-many", many.wrap, pairs[0], pairs[1:]))
    identity: dict[str, str | None] = {}
    for case in cases:
        status, headers, body = await _call(case.app, case.scope())
        check_response(case.name, status, headers, body, ours.cookie_name)
        identity[case.name] = await probe_identity(case)
    expected = {
        "bare": None,
        "session": "alice",
        "floor": None,
        "redtrust": "alice",
        "redtrust-nocookie": None,
    }
    if many is not None:
        expected["redtrust-many"] = "alice"
        # A sample across the many sessions answers as a signed-in one (not only the first).
        many_case = cases[-1]
        for index in range(0, many_case.count, max(1, sessions // 100)):
            many_headers = many_case.headers(index)
            status, answer, body = await _call(
                many_case.app, {**many_case.scope(), "headers": many_headers}
            )
            check_response(many_case.name, status, answer, body, many.cookie_name)
    if identity != expected:
        raise SystemExit(f"signed-in identity per variant is {identity}, expected {expected}")

    # Store calls, counted through a second manager over the same sessions (the timed
    # manager's store is not wrapped, so the counting costs the timed runs nothing).
    counted_manager, counting = ours.counting_manager()
    store_calls: dict[str, dict[str, float]] = {}
    sample = 1000
    for case in (c for c in cases if c.name in ("redtrust", "redtrust-nocookie")):
        counted = InProcessCase(case.name, lambda app: ours.wrap(app, counted_manager), case.cookie)
        counting.calls.clear()
        for _ in range(sample):
            await _call(counted.app, counted.scope())
        store_calls[case.name] = {k: v / sample for k, v in sorted(counting.calls.items())}
    await counted_manager.aclose()

    log(f"in-process: warm-up {warmup} requests per variant")
    for case in cases:
        await _time_case(case, warmup)
    if many is not None:  # every one of the many sessions requested once before timing
        await _time_case(cases[-1], sessions - warmup % sessions)
    chunk = max(1, requests // rounds // TIMINGS_PER_ROUND)
    log(
        f"in-process: {rounds} interleaved rounds, each timing every variant "
        f"{TIMINGS_PER_ROUND} times over {chunk} requests (the fastest kept)"
    )
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for index in range(rounds):
        gc.collect()
        shift = index % len(cases)
        for case in cases[shift:] + cases[:shift]:  # a different variant goes first each round
            # Other work on the machine only ever adds time: the fastest of a few short
            # timings is the round's figure for the variant (as timeit reports).
            best = min([await _time_case(case, chunk) for _ in range(TIMINGS_PER_ROUND)])
            samples[case.name].append(best / chunk * 1e6)
    refresh_calls = ours.refresh_calls()
    await ours.manager.aclose()
    if many is not None:
        refresh_calls += many.refresh_calls()
        await many.manager.aclose()
    return InProcessResult(
        us_per_request={k: statistics.median(v) for k, v in samples.items()},
        best_us_per_request={k: min(v) for k, v in samples.items()},
        rounds_us=samples,
        requests_per_variant=chunk * rounds * TIMINGS_PER_ROUND,
        rounds=rounds,
        identity=identity,
        store_calls_per_request=store_calls,
        refresh_calls=refresh_calls,
        sessions=sessions,
        sign_in_seconds=sign_in_seconds,
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


#: The uvicorn servers measured over sockets: (name, http implementation, event loop).
SERVER_KINDS = (("h11", "h11", "asyncio"), ("httptools+uvloop", "httptools", "uvloop"))
#: The variants measured over sockets (the target compares ours with bare; the floor is
#: shown beside it).
SOCKET_VARIANTS = ("bare", "floor", "redtrust")


def start_server(
    variant: str, workdir: Path, *, http: str = "h11", loop: str = "asyncio", key: str = ""
) -> Server:
    """``variant`` under uvicorn (``http`` and ``loop`` its implementations)."""
    port = _free_port()
    key = key or variant
    state = workdir / f"{key.replace('/', '-')}.json"
    log = workdir / f"{key.replace('/', '-')}.log"
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
        "--http",
        http,
        "--loop",
        loop,
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
def servers(
    variants: Sequence[str], workdir: Path, kinds: Sequence[tuple[str, str, str]] = ()
) -> Iterator[dict[str, Server]]:
    """All variants' servers, stopped (killed if need be) on the way out, even on error.

    With ``kinds`` (see :data:`SERVER_KINDS`) each variant runs on each kind, keyed
    ``kind/variant``; without, on uvicorn's default h11, keyed by the variant.
    """
    running: dict[str, Server] = {}
    try:
        for kind, http_impl, loop in kinds:
            for variant in variants:
                key = f"{kind}/{variant}"
                running[key] = start_server(variant, workdir, http=http_impl, loop=loop, key=key)
        for variant in variants if not kinds else ():
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
    """``wrk`` on ``server`` for ``duration`` seconds (whole seconds: wrk takes no fractions)."""
    duration = max(1, round(duration))
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
    """Every server's wrk rounds, keyed ``kind/variant`` (see :data:`SERVER_KINDS`)."""

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
    kinds: list[str]


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_sockets(
    duration: float,
    warmup: float,
    connections: int,
    rounds: int,
    log: Callable[[str], None],
    kinds: Sequence[tuple[str, str, str]] = SERVER_KINDS,
    variants: Sequence[str] = SOCKET_VARIANTS,
) -> SocketResult:
    """Each variant on each kind of uvicorn server, loaded by wrk in interleaved rounds."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or use --no-sockets)")
    wrk_version = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    for _, http_impl, loop in kinds:
        for module in (http_impl, loop):
            if module != "asyncio" and not _importable(module):
                raise SystemExit(f"{module} is not installed: pip install 'uvicorn[standard]'")
    keys = [f"{kind}/{variant}" for kind, _, _ in kinds for variant in variants]
    samples: dict[str, list[WrkRun]] = {key: [] for key in keys}
    with tempfile.TemporaryDirectory(prefix="redtrust-bench-") as tmp:
        workdir = Path(tmp)
        with servers(variants, workdir, kinds) as running:
            log(f"sockets: {len(running)} uvicorn servers up on 127.0.0.1")
            # The bare app is sent the signed-in browser's Cookie header too: the same bytes
            # to parse on every server, so the figures differ by the middleware alone.
            for kind, _, _ in kinds:
                ours = running.get(f"{kind}/redtrust")
                for other in ("bare", "floor"):
                    server = running.get(f"{kind}/{other}")
                    if ours is not None and server is not None:
                        server.cookie = ours.cookie
            for server in running.values():
                status, headers, body = get_over_socket(server)
                check_response(server.variant, status, headers, body, "redtrust_session")
                if warmup > 0:
                    run_wrk(server, duration=warmup, connections=connections)
            for index in range(rounds):
                shift = index % len(keys)
                order = [*keys[shift:], *keys[:shift]]
                log(
                    f"sockets: round {index + 1}/{rounds}, wrk -c{connections} {duration:g}s "
                    f"on each of {len(keys)} servers"
                )
                for key in order:
                    samples[key].append(
                        run_wrk(running[key], duration=duration, connections=connections)
                    )
        served = {}
        for key, server in running.items():
            try:
                state = server.read_state()
                state.pop("cookie", None)  # a session handle: not worth keeping
                served[key] = state
            except (OSError, ValueError) as error:
                served[key] = {"error": f"no final state: {error}"}
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
        kinds=[kind for kind, _, _ in kinds],
    )


# -- report -----------------------------------------------------------------------------------

SECTION_IN_PROCESS = "ASGI in-process (Starlette, signed in, fresh token)"
SECTION_SOCKETS = "over sockets (uvicorn, wrk)"
#: The performance targets.
ADDED_US_TARGET = 2.0
ADDED_RATIO_TARGET = 0.15
MANY_SESSIONS_TARGET = 2.0
MANY_SESSIONS_AT = 100_000
SOCKET_RATIO_TARGET = 0.93
SOCKET_TARGET_KIND = "httptools+uvloop"


def added_us(inproc: InProcessResult, variant: str) -> list[float]:
    """Per round: what ``variant`` adds to the bare app, in µs."""
    return [v - b for v, b in zip(inproc.rounds_us[variant], inproc.rounds_us["bare"], strict=True)]


def _ratios(top: Sequence[float], bottom: Sequence[float]) -> list[float]:
    """Per round ``top / bottom``, leaving out rounds whose ``bottom`` is not positive (the
    noise swallowed the difference: no ratio can be told)."""
    return [t / b for t, b in zip(top, bottom, strict=True) if b > 0]


def in_process_ratios(inproc: InProcessResult) -> dict[str, list[float]]:
    """The in-process figures per round: our added µs, its ratio to SessionMiddleware's,
    the many-sessions added µs and its ratio to the one-session figure."""
    ours = added_us(inproc, "redtrust")
    found = {
        "redtrust_added_us": ours,
        **({"floor_added_us": added_us(inproc, "floor")} if "floor" in inproc.rounds_us else {}),
        "session_added_us": added_us(inproc, "session"),
        "redtrust_over_session": _ratios(ours, added_us(inproc, "session")),
    }
    if "redtrust-many" in inproc.rounds_us:
        many = added_us(inproc, "redtrust-many")
        found["many_added_us"] = many
        found["many_over_one"] = _ratios(many, ours)
    return found


def socket_ratios(sockets: SocketResult, variant: str = "redtrust") -> dict[str, list[float]]:
    """Per kind of server, per round: ``variant``'s requests/s (ours by default, or the
    floor's) over the bare app's."""
    rps = sockets.rounds_rps
    return {
        kind: _ratios(rps[f"{kind}/{variant}"], rps[f"{kind}/bare"])
        for kind in sockets.kinds
        if f"{kind}/{variant}" in rps and f"{kind}/bare" in rps
    }


def _ratio_target(
    section: str, goal: str, values: Sequence[float], limit: float, *, at_most: bool
) -> Target:
    if not values:
        return Target(section, goal, "no round could tell (noise larger than the cost)", False)
    figure = spread(values)
    met = figure.median <= limit if at_most else figure.median >= limit
    return Target(section, goal, f"{figure.format()} over {len(values)} rounds", met)


def section_targets(inproc: InProcessResult | None, sockets: SocketResult | None) -> list[Target]:
    """The performance targets this benchmark measures, each beside its figure (decided on the
    median of the rounds)."""
    found = []
    if inproc is not None:
        r = in_process_ratios(inproc)
        ours = spread(r["redtrust_added_us"])
        beside = (
            f"; the floor adds {spread(r['floor_added_us']).format('µs')}"
            if "floor_added_us" in r
            else ""
        )
        found.append(
            Target(
                SECTION_IN_PROCESS,
                f"our added cost <= {ADDED_US_TARGET:g} µs",
                f"{ours.format('µs')} over {inproc.rounds} rounds{beside}",
                ours.median <= ADDED_US_TARGET,
            )
        )
        found.append(
            _ratio_target(
                SECTION_IN_PROCESS,
                f"our added / SessionMiddleware's added <= {ADDED_RATIO_TARGET:g}",
                r["redtrust_over_session"],
                ADDED_RATIO_TARGET,
                at_most=True,
            )
        )
        if "many_over_one" in r:
            at = f"{inproc.sessions:,} sessions"
            if inproc.sessions < MANY_SESSIONS_AT:
                at += f"; the target is at {MANY_SESSIONS_AT:,}"
            many = _ratio_target(
                SECTION_IN_PROCESS,
                f"many sessions round-robin ({at}): added <= {MANY_SESSIONS_TARGET:g} x one",
                r["many_over_one"],
                MANY_SESSIONS_TARGET,
                at_most=True,
            )
            found.append(
                Target(
                    many.section,
                    many.goal,
                    f"{many.figure_text}; added {spread(r['many_added_us']).format('µs')}",
                    many.met,
                )
            )
        calls = sum(inproc.store_calls_per_request["redtrust-nocookie"].values())
        found.append(
            Target(
                SECTION_IN_PROCESS,
                "store calls per request without a session cookie == 0",
                f"{calls:g}",
                calls == 0,
            )
        )
    if sockets is not None:
        ratios = socket_ratios(sockets)
        if SOCKET_TARGET_KIND in ratios:
            target = _ratio_target(
                SECTION_SOCKETS,
                f"{SOCKET_TARGET_KIND}: our req/s / bare >= {SOCKET_RATIO_TARGET:g}",
                ratios[SOCKET_TARGET_KIND],
                SOCKET_RATIO_TARGET,
                at_most=False,
            )
            floor = socket_ratios(sockets, "floor").get(SOCKET_TARGET_KIND)
            if floor:  # how close any session middleware can come, in the same rounds
                target = replace(
                    target, figure_text=f"{target.figure_text}; the floor {spread(floor).format()}"
                )
            found.append(target)
    return found


def render(inproc: InProcessResult | None, sockets: SocketResult | None) -> str:
    """The figures as a table (medians, min and max over the rounds)."""
    lines = []
    if inproc is not None:
        header = f"{'in-process variant':<28}{'µs/req (min-max)':>32}{'added µs (min-max)':>34}"
        lines += [header, "-" * len(header)]
        for name, rounds in inproc.rounds_us.items():
            us = spread(rounds)
            added = "" if name == "bare" else spread(added_us(inproc, name)).format()
            lines.append(f"{LABELS[name]:<28}{us.format():>32}{added:>34}")
        lines.append(
            f"({inproc.rounds} interleaved rounds, the fastest of {TIMINGS_PER_ROUND} timings "
            f"each; {inproc.requests_per_variant:,} requests per variant"
            + (f"; many = {inproc.sessions:,} sessions" if inproc.sessions else "")
            + ")"
        )
    if sockets is not None:
        if lines:
            lines.append("")
        header = f"{'over sockets':<34}{'req/s (min-max)':>32}{'lat ms':>8}"
        lines += [header, "-" * len(header)]
        for key, rounds in sockets.rounds_rps.items():
            rps = spread(rounds)
            lines.append(f"{key:<34}{rps.format(digits=0):>32}{sockets.latency_avg_ms[key]:>8.2f}")
        for variant, label in (("redtrust", "ours"), ("floor", "floor")):
            for kind, ratios in socket_ratios(sockets, variant).items():
                shown = spread(ratios).format() if ratios else "-"
                lines.append(f"{kind + ': ' + label + ' / bare':<34}{shown:>32}")
        lines.append(
            f"({sockets.wrk.split(' [')[0]} -t1 -c{sockets.connections} -d{sockets.duration:g}s, "
            f"{sockets.rounds} interleaved rounds, uvicorn 1 worker)"
        )
    return "\n".join(lines)


def facts(inproc: InProcessResult | None, sockets: SocketResult | None) -> str:
    """Store calls and refreshes, as counted (the run did what it claims to measure)."""
    lines = []
    if inproc is not None:
        for name, calls in inproc.store_calls_per_request.items():
            shown = ", ".join(f"{k} {v:g}" for k, v in calls.items()) or "none"
            lines.append(f"in-process store calls per request, {LABELS[name]}: {shown}")
        lines.append(f"in-process token refreshes during the run: {inproc.refresh_calls}")
        if inproc.sessions:
            lines.append(
                f"in-process: {inproc.sessions:,} sessions signed in in "
                f"{inproc.sign_in_seconds:.1f} s (not timed)"
            )
    if sockets is not None:
        for key, served in sockets.served.items():
            if not key.endswith("/redtrust"):
                continue
            lines.append(
                f"sockets, {key}: {served.get('requests', 0):,} requests served, "
                f"refreshes: {served.get('refresh_calls')} (store calls: counted in-process)"
            )
        errors = {k: v for k, v in sockets.errors.items() if v}
        if errors:
            lines.append(f"sockets: wrk counted errors or non-2xx answers: {errors}")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Where the run ran: Python, machine, package versions, the commit."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    packages = {}
    for name in ("redtrust-middleware", "starlette", "uvicorn", "uvloop", "httptools", "Authlib"):
        with contextlib.suppress(Exception):
            packages[name] = version(name)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": packages,
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain")),
    }


def record(inproc: InProcessResult | None, sockets: SocketResult | None) -> dict[str, Any]:
    """The JSON form of a run of this benchmark."""
    return {
        "in_process": asdict(inproc) if inproc is not None else None,
        "in_process_ratios": in_process_ratios(inproc) if inproc is not None else None,
        "sockets": asdict(sockets) if sockets is not None else None,
        "socket_ratios": socket_ratios(sockets) if sockets is not None else None,
        "floor_socket_ratios": socket_ratios(sockets, "floor") if sockets is not None else None,
    }


# -- entry point ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (shared with the whole run, :mod:`benchmarks.suite`)."""
    parser.add_argument("--requests", type=int, help="in-process requests per variant")
    parser.add_argument("--rounds", type=int, help="interleaved in-process rounds")
    parser.add_argument(
        "--sessions",
        type=int,
        help=f"sessions of the many-sessions variant (default {MANY_SESSIONS_AT:,}, "
        "quick 1,000; 0: not measured)",
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run (whole seconds)")
    parser.add_argument("--socket-rounds", type=int, help="interleaved wrk rounds")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process run")
    parser.add_argument("--no-sockets", action="store_true", help="skip the uvicorn/wrk run")


def settle_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the defaults that depend on ``--quick``; refuse impossible values."""
    quick = args.quick
    args.requests = args.requests or (4_000 if quick else 50_000)
    args.rounds = args.rounds or (4 if quick else 25)
    args.warmup = 1_000 if quick else 5_000
    if args.sessions is None:
        args.sessions = 1_000 if quick else MANY_SESSIONS_AT
    # Many short rounds rather than a few long ones, in the same time (18 x 2 s for 9 x 4 s;
    # a multiple of the 6 servers, so each runs first equally often): on a shared machine
    # the load on the host changes within seconds, and servers run back to back in a round
    # see nearly the same host, so their ratio varies less, and the median of more rounds less.
    args.duration = args.duration or (1 if quick else 2)
    args.socket_warmup = 1
    args.socket_rounds = args.socket_rounds or (2 if quick else 18)
    if args.requests < args.rounds or args.rounds < 1 or args.socket_rounds < 1:
        parser.error("need at least one request per round and one round")
    if args.connections < 1 or args.duration <= 0 or args.sessions < 0:
        parser.error("need at least one connection, a positive duration, sessions >= 0")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks asgi", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="a short run")
    add_arguments(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile in-process requests to RedtrustMiddleware and print the top",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    settle_arguments(parser, args)
    return args


def run(
    args: argparse.Namespace, log: Callable[[str], None]
) -> tuple[InProcessResult | None, SocketResult | None]:
    """The in-process and socket halves, as ``args`` ask."""
    inproc = None
    if not args.no_in_process:
        inproc = asyncio.run(
            run_in_process(args.requests, args.rounds, args.warmup, log, args.sessions)
        )
    sockets = None
    if not args.no_sockets:
        sockets = run_sockets(
            args.duration, args.socket_warmup, args.connections, args.socket_rounds, log
        )
    return inproc, sockets


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks asgi``: this benchmark alone."""
    args = parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    inproc, sockets = run(args, log)
    if inproc is None and sockets is None:
        print("nothing to measure: drop --no-in-process or --no-sockets", file=sys.stderr)
        return 2
    print()
    print(render(inproc, sockets))
    print()
    print(facts(inproc, sockets))
    found = section_targets(inproc, sockets)
    met = report(found)

    now = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"asgi-{now:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "starlette-asgi",
        "when": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "environment": environment(),
        **record(inproc, sockets),
        "targets": [asdict(t) for t in found],
    }
    output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwritten: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    if args.profile:
        print("\ncProfile, in-process requests to RedtrustMiddleware:\n")
        print(profile_in_process(20_000, 25))
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
