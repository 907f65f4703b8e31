"""The refresh storm: Authlib's usual Starlette setup beside ours, over real sockets.

One browser session (the same cookie on every request) whose access token is due for
refresh sends 1,000 requests at once to a protected JSON endpoint:

* **Authlib**: :mod:`benchmarks.authlib_app` under uvicorn (token in ``SessionMiddleware``,
  an ``AsyncOAuth2Client`` per request, ``update_token`` saving into the session) against
  :mod:`benchmarks.oauth_server`, which rotates refresh tokens and counts refresh grants;
* **ours**: ``examples.starlette_app`` under uvicorn (``RedtrustMiddleware``, the in-memory
  store) against the sandbox on a real socket, which rotates refresh tokens the same way.

Each side answers ``{"user": "alice"}`` with 200 or fails (401: signed out, or an error).
The figures: refresh grants the token server received and requests that did not get 200.
Target: ours exactly one refresh and no failure, however many requests arrive together.

``python -m benchmarks storm`` (``--quick``: one round; ``--requests N``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2

from benchmarks.oauth_server import TokenServer, serving
from benchmarks.targets import Target, report, spread
from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS

__all__ = ["StormResult", "main", "run_storms", "targets"]

ROOT = Path(__file__).resolve().parent.parent
SECTION = "refresh storm (one browser session, token due, all requests at once)"
#: The key our example app seals its sessions with (any 32+ characters).
ENCRYPTION_KEY = "bench-storm-encryption-key-0123456789abcdef"


@dataclass(slots=True)
class StormRound:
    """One storm on one side: what the token server counted and how the requests ended."""

    refresh_grants: int  # refresh grants the token server received
    refreshes_refused: int  # of them refused (a refresh token already spent)
    failed: int  # requests that did not answer 200 with the signed-in user
    outcomes: dict[str, int]
    seconds: float


@dataclass(slots=True)
class StormResult:
    """Every round of both sides."""

    requests: int
    authlib: list[StormRound] = field(default_factory=list)
    ours: list[StormRound] = field(default_factory=list)


def _free_port() -> int:
    from redtrust_middleware.sandbox.server import listening_socket

    with contextlib.closing(listening_socket("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
        return port


def _allow_open_files(count: int) -> None:
    """Raise the soft limit on open files (the servers started after inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextlib.contextmanager
def uvicorn_app(
    target: str, env: dict[str, str], log: Path, *, factory: bool = False, port: int = 0
) -> Iterator[str]:
    """``target`` under uvicorn (one worker, own process, ``port`` or a free one); yield its
    URL once it answers."""
    port = port or _free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning", "--backlog", "4096",
    ]  # fmt: skip
    if factory:
        command.append("--factory")
    env = {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{target} exited:\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(httpx2.HTTPError):
                httpx2.get(url + "/", timeout=1)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{target} did not start within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def storm(url: str, cookie: str, requests: int) -> Counter[str]:
    """``requests`` GETs of ``/api/me`` at once with the same Cookie header: outcome counts.

    The client keeps no cookies (a refused jar), so every request carries the cookie the
    session had when the storm began, as a burst from one page load does.
    """
    outcomes: Counter[str] = Counter()
    limits = httpx2.Limits(max_connections=requests, max_keepalive_connections=requests)
    jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    async with httpx2.AsyncClient(
        base_url=url, cookies=jar, limits=limits, timeout=60, headers={"Cookie": cookie}
    ) as client:

        async def one() -> None:
            try:
                answer = await client.get("/api/me")
            except httpx2.HTTPError as error:
                outcomes[type(error).__name__] += 1
                return
            ok = answer.status_code == 200 and answer.json().get("user") == "alice"
            outcomes[str(answer.status_code) if ok or answer.status_code != 200 else "wrong"] += 1

        await asyncio.gather(*(one() for _ in range(requests)))
    return outcomes


def _cookie_header(cookies: httpx2.Cookies) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def _round(
    grants: int, refused: int, outcomes: Counter[str], requests: int, seconds: float
) -> StormRound:
    return StormRound(
        refresh_grants=grants,
        refreshes_refused=refused,
        failed=requests - outcomes.get("200", 0),
        outcomes=dict(outcomes),
        seconds=seconds,
    )


def run_authlib(
    requests: int, rounds: int, workdir: Path, log: Callable[[str], None]
) -> list[StormRound]:
    """Authlib's side: ``rounds`` storms, each on a fresh sign-in."""
    server = TokenServer()
    done = []
    with (
        serving(server) as oauth_url,
        uvicorn_app(
            "benchmarks.authlib_app:create_app",
            {**os.environ, "BENCH_OAUTH_URL": oauth_url},
            workdir / "authlib.log",
            factory=True,
        ) as app_url,
    ):
        for index in range(rounds):
            with httpx2.Client(base_url=app_url, timeout=30) as browser:
                signed_in = browser.get("/callback")
                if signed_in.status_code != 200:
                    raise SystemExit(f"Authlib app sign-in answered {signed_in.status_code}")
                cookie = _cookie_header(browser.cookies)
            before = (server.refresh_grants, server.refreshes_refused)
            log(f"storm: Authlib round {index + 1}/{rounds}, {requests:,} requests at once")
            began = time.monotonic()
            outcomes = asyncio.run(storm(app_url, cookie, requests))
            done.append(
                _round(
                    server.refresh_grants - before[0],
                    server.refreshes_refused - before[1],
                    outcomes,
                    requests,
                    time.monotonic() - began,
                )
            )
    return done


def _sign_in_ours(app_url: str, sandbox: Sandbox) -> str:
    with httpx2.Client(base_url=app_url, timeout=30) as browser:
        start = browser.get("/redtrust/login", params={"next": "/me"})
        if start.status_code != 302:
            raise SystemExit(f"our login route answered {start.status_code}")
        callback = sandbox.sign_in(start.headers["location"], "alice", TEST_USERS["alice"])
        done = browser.get(callback)
        if done.status_code not in (302, 303):
            raise SystemExit(f"our callback answered {done.status_code}")
        return _cookie_header(browser.cookies)


def run_ours(
    requests: int, rounds: int, workdir: Path, log: Callable[[str], None]
) -> list[StormRound]:
    """Our side: ``rounds`` storms, each on a fresh sign-in whose token is due."""
    app_port = _free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(app_url + "/",),
            # Inside the default 60 s refresh leeway one second after its issue (not at once:
            # the sign-in itself must not refresh).
            access_token_ttl=61,
            refreshed_access_token_ttl=3600,
        )
    )
    done = []
    with running(sandbox) as sandbox_url:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REDTRUST_", "DJANGO_")) and k != "DATABASE_URL"
        }
        env.update(
            REDTRUST_SERVER_URL=sandbox_url,
            REDTRUST_PARTNER=TEST_PARTNER,
            REDTRUST_SHARED_SECRET=TEST_SECRET,
            REDTRUST_PUBLIC_URL=app_url,
            REDTRUST_ENCRYPTION_KEYS=ENCRYPTION_KEY,
        )
        with uvicorn_app("examples.starlette_app:app", env, workdir / "ours.log", port=app_port):
            for index in range(rounds):
                cookie = _sign_in_ours(app_url, sandbox)
                before = (sandbox.calls["refresh"], sandbox.calls["refresh_reuse"])
                # The app counts the 61 s from when it got the token: one second on, it is
                # within the leeway (a wait on the real clock: the app runs on it).
                time.sleep(1.05)
                log(f"storm: ours round {index + 1}/{rounds}, {requests:,} requests at once")
                began = time.monotonic()
                outcomes = asyncio.run(storm(app_url, cookie, requests))
                done.append(
                    _round(
                        sandbox.calls["refresh"] - before[0],
                        sandbox.calls["refresh_reuse"] - before[1],
                        outcomes,
                        requests,
                        time.monotonic() - began,
                    )
                )
    return done


def run_storms(requests: int, rounds: int, log: Callable[[str], None]) -> StormResult:
    """Both sides, ``rounds`` storms each (Authlib's and ours alternate)."""
    _allow_open_files(4 * requests + 1024)
    result = StormResult(requests=requests)
    with tempfile.TemporaryDirectory(prefix="redtrust-storm-") as tmp:
        workdir = Path(tmp)
        for _ in range(rounds):
            result.authlib += run_authlib(requests, 1, workdir, log)
            result.ours += run_ours(requests, 1, workdir, log)
    return result


def targets(result: StormResult) -> list[Target]:
    """Ours: exactly one refresh and no failure per storm; Authlib's figures beside them."""
    n = f"{result.requests:,}"

    def figures(rounds: list[StormRound], what: str) -> str:
        values = [float(getattr(r, what)) for r in rounds]
        return spread(values).format(digits=0)

    ours_refreshes = [r.refresh_grants for r in result.ours]
    ours_failed = [r.failed for r in result.ours]
    return [
        Target(
            SECTION,
            f"ours: exactly 1 refresh per {n} requests",
            f"{figures(result.ours, 'refresh_grants')}; Authlib beside: "
            f"{figures(result.authlib, 'refresh_grants')} refresh grants "
            f"({figures(result.authlib, 'refreshes_refused')} refused)",
            bool(ours_refreshes) and all(r == 1 for r in ours_refreshes),
        ),
        Target(
            SECTION,
            f"ours: 0 failed requests of {n}",
            f"{figures(result.ours, 'failed')}; Authlib beside: "
            f"{figures(result.authlib, 'failed')} failed",
            bool(ours_failed) and all(f == 0 for f in ours_failed),
        ),
    ]


def record(result: StormResult) -> dict[str, object]:
    """The JSON form of ``result``."""
    return asdict(result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks storm", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--requests", type=int, default=1000, help="requests per storm")
    parser.add_argument("--rounds", type=int, help="storms per side (default 3, quick 1)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = run_storms(args.requests, rounds, log)
    for side, runs in (("Authlib", result.authlib), ("ours", result.ours)):
        for run in runs:
            print(
                f"{side}: {run.refresh_grants} refresh grants ({run.refreshes_refused} refused), "
                f"{run.failed} failed, outcomes {run.outcomes}, {run.seconds:.2f} s"
            )
    return 0 if report(targets(result)) else 1


if __name__ == "__main__":
    sys.exit(main())
