"""Storms of signed-in requests over real sockets: the example apps under uvicorn (the bare
WSGI one and the Flask one under gunicorn, threaded) sharing one Redis, the sandbox on a real
socket, 1,000 requests (loopback only) on one session.

- Across 4 workers, 50 at a time, on a fresh token and on one due for refresh: every request
  succeeds, the expiring token is refreshed exactly once (the fresh one never) and nobody is
  signed out. The Django site keeps its sessions in its database, sqlite or PostgreSQL: only
  the request that refreshed writes its session row. The same with all 1,000 at once (the
  burst that gave 600 x 503 when the pool refused instead of waiting).
- On ONE worker, all 1,000 at once: far more requests in flight than the store's connection
  pool (the default pool, and a pool of 10), so requests wait for a connection; every one
  succeeds (a healthy Redis never causes a 503) and the pool never grows past its bound.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import redis
from tests.databases import PostgresServer
from tests.servers import (
    WORKERS_START_TIMEOUT,
    WSGI_TARGETS,
    Processes,
    free_port,
    session_app_env,
    start_django,
    start_starlette,
    start_wsgi,
)

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS, RedisServer

REQUESTS = 1000


@dataclass(frozen=True)
class Storm:
    """One storm: the app, its workers, the requests in flight at once, the token's state."""

    #: "starlette", "django" (sqlite sessions), "django-postgresql", "wsgi" (the bare WSGI
    #: example under gunicorn, 4 threads per worker) or "flask" (the Flask example, the same)
    site: str
    workers: int = 4
    concurrency: int = 50
    token: str = "expiring"  # "fresh": no refresh is due; "expiring": due at once
    max_connections: int | None = None  # REDTRUST_REDIS_MAX_CONNECTIONS (None: the default)

    @property
    def refreshes(self) -> int:
        """How many refreshes must reach Redtrust: one for an expiring token, else none."""
        return 1 if self.token == "expiring" else 0

    @property
    def id(self) -> str:
        pool = "" if self.max_connections is None else f"-pool{self.max_connections}"
        return f"{self.site}-{self.workers}w-{self.concurrency}at-once-{self.token}{pool}"


STORMS = [
    *(
        Storm(site, token=token)
        for site in ("starlette", "django", "django-postgresql", *WSGI_TARGETS)
        for token in ("fresh", "expiring")
    ),
    # The burst that used to answer 503 more often than 200: all 1,000 at once on 4 workers.
    Storm("starlette", workers=4, concurrency=REQUESTS, token="expiring"),
    # The same burst on the WSGI examples: 4 gunicorn workers of 4 threads each.
    *(Storm(site, workers=4, concurrency=REQUESTS, token="expiring") for site in WSGI_TARGETS),
    # Past every pool and cap: 1,000 in flight on one worker, 100 per pooled connection.
    Storm("starlette", workers=1, concurrency=REQUESTS, token="expiring", max_connections=10),
    Storm("starlette", workers=1, concurrency=REQUESTS, token="fresh"),
]


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[Processes]:
    """The test's servers, stopped at its end; their logs shown when it failed."""
    procs = Processes()
    failures = request.session.testsfailed
    try:
        yield procs
    finally:
        procs.stop()
        if request.session.testsfailed != failures:
            procs.dump()


def _wait_until(moment: float) -> None:
    """Wait until ``time.time()`` reaches ``moment`` (polling a deadline)."""
    while time.time() < moment:
        threading.Event().wait(min(0.05, max(moment - time.time(), 0.001)))


def _sign_in(app_url: str, sandbox: Sandbox) -> httpx2.Cookies:
    """Sign alice in through the app's own routes; the browser's cookies."""
    with httpx2.Client(base_url=app_url, timeout=10) as browser:
        start = browser.get("/redtrust/login", params={"next": "/me"})
        assert start.status_code == 302, start.text
        callback = sandbox.sign_in(start.headers["location"], "alice", TEST_USERS["alice"])
        assert callback.startswith(app_url + "/redtrust/callback")
        done = browser.get(callback)
        assert done.status_code in (302, 303), done.text
        return httpx2.Cookies(browser.cookies)


def _allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files to ``count`` (servers started after
    inherit it): 1,000 client sockets do not fit under the common default of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _storm(app_url: str, cookies: httpx2.Cookies, concurrency: int) -> Counter[str]:
    """``REQUESTS`` GETs of /api/me, ``concurrency`` at a time: outcome counts."""
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=app_url, cookies=cookies, limits=limits, timeout=30
    ) as client:

        async def one() -> None:
            async with gate:
                try:
                    answer = await client.get("/api/me")
                except httpx2.HTTPError as error:
                    outcomes[type(error).__name__] += 1
                    return
                outcomes[str(answer.status_code)] += 1
                if answer.status_code == 200 and answer.json().get("user") != "alice":
                    outcomes["wrong user"] += 1

        await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return outcomes


def _database(site: str, folder: Path, request: pytest.FixtureRequest) -> str:
    if site == "django-postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database("storm")
    return str(folder / "django.sqlite3")


def _redis_clients(redis_server: RedisServer) -> int:
    """Connections open to Redis now, not counting the one asking."""
    with redis.Redis.from_url(redis_server.url) as control:
        return int(control.info("clients")["connected_clients"]) - 1


@pytest.mark.network
@pytest.mark.timeout(300)
@pytest.mark.parametrize("storm", STORMS, ids=lambda storm: storm.id)
def test_a_storm_of_signed_in_requests(
    storm: Storm,
    redis_server: RedisServer,
    processes: Processes,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    _allow_open_files(2 * storm.concurrency + 1024)
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(app_url + "/",),
            # Expiring: inside the default 60 s refresh leeway one second after its issue (not
            # at once: the sign-in itself must not refresh). Fresh: an hour from the leeway.
            access_token_ttl=61 if storm.token == "expiring" else 3600,
            refreshed_access_token_ttl=3600,
        )
    )
    with running(sandbox) as sandbox_url:
        env = session_app_env(sandbox_url, app_url, redis_server.url)
        if storm.max_connections is not None:
            env["REDTRUST_REDIS_MAX_CONNECTIONS"] = str(storm.max_connections)
        writes = None
        if storm.site == "starlette":
            start_starlette(processes, env, port, storm.workers, tmp_path)
        elif storm.site in WSGI_TARGETS:
            start_wsgi(processes, env, port, storm.workers, tmp_path, storm.site)
        else:
            database = _database(storm.site, tmp_path, request)
            writes = start_django(processes, env, port, storm.workers, tmp_path, database)
        processes.wait_until_ready(app_url, timeout=WORKERS_START_TIMEOUT)

        cookies = _sign_in(app_url, sandbox)
        assert sandbox.calls["refresh"] == 0
        signed_in = writes.count() if writes is not None else 0
        if storm.token == "expiring":
            # The app measures the 61 s lifetime from when it got the token, before now: one
            # second on, the token is within the 60 s leeway on every worker.
            _wait_until(time.time() + 1.05)

        began = time.monotonic()
        outcomes = asyncio.run(_storm(app_url, cookies, storm.concurrency))
        elapsed = time.monotonic() - began

        assert outcomes == Counter({"200": REQUESTS}), (outcomes, elapsed)
        assert sandbox.calls["refresh"] == storm.refreshes, (dict(sandbox.calls), elapsed)
        assert sandbox.calls["refresh_reuse"] == 0
        if storm.max_connections is not None:
            # Each worker's asyncio pool (its only one in use) was filled, and not exceeded.
            assert _redis_clients(redis_server) == storm.workers * storm.max_connections
        with httpx2.Client(base_url=app_url, cookies=cookies, timeout=10) as browser:
            me = browser.get("/me")
            assert me.status_code == 200, me.text
            assert "alice" in me.text
        assert sandbox.calls["refresh"] == storm.refreshes
        if writes is not None:  # the refresh, saved once; no other request wrote its session
            assert writes.count() - signed_in == storm.refreshes
        processes.check_alive()
