"""A storm across hosts: the Starlette example on two app hosts and Redis on a third, each host
a network namespace of its own (``ip netns``) joined to the others by veth pairs.

The hosts are: ``app1`` and ``app2`` (2 uvicorn workers each, ``tests.storm_app`` on a
``RedisStore`` pointed at the Redis host), ``redis`` (a ``redis-server``) and this process's own
namespace, which runs the sandbox and the load generator. Every host has one address from
198.18.0.0/15 (the range set aside for network tests), on point-to-point links to each host it
talks to: the addresses exist only on these links, no route leaves the machine.

1,000 requests at once on one session whose access token is due for refresh, half to each app
host: every request answers 200 and the sandbox sees exactly one refresh grant.

Needs root (CAP_NET_ADMIN) and iproute2: skipped when not root; with ``CI=true`` or
``REDTRUST_STRICT_TESTS=1`` a missing ``ip`` or a namespace that cannot be made fails the test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import redis
from tests.servers import WORKERS_START_TIMEOUT, Processes, session_app_env
from tests.test_storm import _allow_open_files, _sign_in, _wait_until

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS, require_system

REQUESTS = 1000
APP_HOSTS = ("app1", "app2")
WORKERS_PER_HOST = 2
APP_PORT = 8000
REDIS_PORT = 6379
#: Where each app host reaches the sandbox: a relay on its own loopback (plain http to Redtrust
#: is accepted for loopback only) to the sandbox on the root host.
SANDBOX_RELAY_PORT = 8083
IP_TIMEOUT = 10.0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip args``; raises RuntimeError with its message when it fails and ``check``."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _free_subnet() -> int:
    """A third octet N such that no address of 198.18.N.0/24 is on this machine yet."""
    used = _ip("-o", "-4", "addr", "show").stdout
    for _ in range(100):
        octet = secrets.randbelow(256)
        if f"198.18.{octet}." not in used:
            return octet
    raise RuntimeError("no free 198.18.N.0/24 found")


@dataclass
class Network:
    """The test's hosts: a namespace per host (``root`` is this process's own), an address
    each, and the links made between them (for the teardown)."""

    prefix: str
    octet: int
    namespaces: list[str]
    root_links: list[str]

    def address(self, host: str) -> str:
        """The one address of ``host`` (root, app1, app2 or redis)."""
        index = {"root": 1, "app1": 2, "app2": 3, "redis": 4}[host]
        return f"198.18.{self.octet}.{index}"

    def namespace(self, host: str) -> str:
        """The ``ip netns`` name of ``host`` (not root)."""
        return f"{self.prefix}-{host}"

    def exec(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def link(self, one: str, other: str) -> None:
        """A veth pair between ``one`` and ``other``, each end with its host's address and a
        route to the other's address only."""
        names = {
            host: f"{self.prefix}{one[0]}{one[-1]}{other[0]}{other[-1]}{i}"
            for i, host in enumerate((one, other))
        }
        create = ["link", "add", names[one]]
        if one != "root":
            create = ["-n", self.namespace(one), *create]
        else:
            self.root_links.append(names[one])
        _ip(*create, "type", "veth", "peer", "name", names[other], "netns", self.namespace(other))
        for host, peer in ((one, other), (other, one)):
            where = [] if host == "root" else ["-n", self.namespace(host)]
            local, remote = self.address(host), self.address(peer)
            _ip(*where, "addr", "add", local, "peer", f"{remote}/32", "dev", names[host])
            _ip(*where, "link", "set", names[host], "up")

    def teardown(self) -> None:
        """Delete every namespace and root-side link (each step tried, errors ignored)."""
        for name in self.root_links:
            _ip("link", "del", name, check=False)
        for name in self.namespaces:
            _ip("netns", "del", name, check=False)


def _require_namespaces() -> None:
    """Skip (or fail, in strict mode, when root and ``ip`` are there) without namespaces."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN): not running as root")
    require_system(
        shutil.which("ip") is not None, "the ip command is missing (apt-get install -y iproute2)"
    )
    probe = f"rtprobe{secrets.token_hex(3)}"
    made = _ip("netns", "add", probe, check=False)
    _ip("netns", "del", probe, check=False)
    require_system(
        made.returncode == 0,
        f"cannot make a network namespace (ip netns add: {made.stderr.strip()})",
    )


@pytest.fixture
def network() -> Iterator[Network]:
    """Four hosts: root (sandbox, load) linked to app1, app2 and redis; app1 and app2 each
    linked to redis. Deleted at the end, also when the set-up failed half-way."""
    _require_namespaces()
    net = Network(f"rt{secrets.token_hex(2)}", _free_subnet(), [], [])
    try:
        for host in ("app1", "app2", "redis"):
            _ip("netns", "add", net.namespace(host))
            net.namespaces.append(net.namespace(host))
            _ip("-n", net.namespace(host), "link", "set", "lo", "up")
        for one, other in (("root", "app1"), ("root", "app2"), ("root", "redis")):
            net.link(one, other)
        for app in APP_HOSTS:
            net.link(app, "redis")
        yield net
    finally:
        net.teardown()


@pytest.fixture
def processes(network: Network, request: pytest.FixtureRequest) -> Iterator[Processes]:
    """The hosts' servers, stopped before the namespaces go; their logs shown on failure."""
    procs = Processes()
    failures = request.session.testsfailed
    try:
        yield procs
    finally:
        procs.stop()
        if request.session.testsfailed != failures:
            procs.dump()


def env_of_tests() -> dict[str, str]:
    """This process's environment with the repository on ``PYTHONPATH`` (for ``tests.*``)."""
    root = str(Path(__file__).resolve().parents[1])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }


def _start_redis(network: Network, processes: Processes, folder: Path) -> str:
    """``redis-server`` on the Redis host, no persistence; its URL once it answers PING."""
    executable = shutil.which("redis-server")
    require_system(
        executable is not None, "redis-server is missing (apt-get install -y redis-server)"
    )
    assert executable is not None
    address = network.address("redis")
    argv = [executable, "--bind", address, "--port", str(REDIS_PORT), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(folder), "--protected-mode", "no"]
    processes.start(network.exec("redis", argv), os.environ, folder / "redis.log")
    url = f"redis://{address}:{REDIS_PORT}/0"
    deadline = time.monotonic() + 10
    with redis.Redis.from_url(url, socket_timeout=1) as probe:
        while True:
            processes.check_alive()
            try:
                if probe.ping():
                    return url
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)  # polling with a deadline


async def _storm(urls: list[str], cookie: str) -> dict[str, Counter[str]]:
    """``REQUESTS`` GETs of /api/me all at once, spread evenly over ``urls``: outcomes by URL."""
    outcomes = {url: Counter[str]() for url in urls}
    share = REQUESTS // len(urls)
    limits = httpx2.Limits(max_connections=share, max_keepalive_connections=share)
    clients = [
        httpx2.AsyncClient(base_url=url, headers={"cookie": cookie}, limits=limits, timeout=30)
        for url in urls
    ]

    async def one(url: str, client: httpx2.AsyncClient) -> None:
        try:
            answer = await client.get("/api/me")
        except httpx2.HTTPError as error:
            outcomes[url][type(error).__name__] += 1
            return
        outcomes[url][str(answer.status_code)] += 1
        if answer.status_code == 200 and answer.json().get("user") != "alice":
            outcomes[url]["wrong user"] += 1

    try:
        await asyncio.gather(
            *(
                one(url, client)
                for url, client in zip(urls, clients, strict=True)
                for _ in range(share)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return outcomes


@pytest.mark.network
@pytest.mark.timeout(120)
def test_one_refresh_for_a_storm_over_two_app_hosts(
    network: Network, processes: Processes, tmp_path: Path
) -> None:
    _allow_open_files(2 * REQUESTS + 1024)
    redis_url = _start_redis(network, processes, tmp_path)
    urls = [f"http://{network.address(app)}:{APP_PORT}" for app in APP_HOSTS]
    sandbox = Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=tuple(url + "/" for url in urls),
            # Inside the default 60 s refresh leeway one second after its issue (as in the
            # storm suite): the sign-in itself does not refresh, the storm must, once.
            access_token_ttl=61,
            refreshed_access_token_ttl=3600,
        )
    )
    # The sandbox listens on the root host's address, which is on every root-side link.
    with running(sandbox, host=network.address("root")) as sandbox_url:
        sandbox_port = sandbox_url.rsplit(":", 1)[1]
        for app, url in zip(APP_HOSTS, urls, strict=True):
            relay = [sys.executable, "-m", "tests.relay", str(SANDBOX_RELAY_PORT)]
            relay += [network.address("root"), sandbox_port]
            processes.start(network.exec(app, relay), env_of_tests(), tmp_path / f"{app}-relay.log")
            env = session_app_env(f"http://127.0.0.1:{SANDBOX_RELAY_PORT}", url, redis_url)
            argv = [sys.executable, "-m", "uvicorn", "tests.storm_app:app", "--no-access-log"]
            argv += ["--host", network.address(app), "--port", str(APP_PORT)]
            argv += ["--workers", str(WORKERS_PER_HOST), "--log-level", "warning"]
            processes.start(network.exec(app, argv), env, tmp_path / f"{app}.log")
        for url in urls:
            processes.wait_until_ready(url, timeout=WORKERS_START_TIMEOUT)

        # Signed in on app1; the browser's cookie goes to both hosts (as behind a balancer).
        cookies = _sign_in(urls[0], sandbox)
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        assert sandbox.calls["refresh"] == 0
        _wait_until(time.time() + 1.05)  # the token is now within the leeway on every worker

        began = time.monotonic()
        outcomes = asyncio.run(_storm(urls, cookie))
        elapsed = time.monotonic() - began

        share = REQUESTS // len(urls)
        assert outcomes == {url: Counter({"200": share}) for url in urls}, (outcomes, elapsed)
        assert sandbox.calls["refresh"] == 1, (dict(sandbox.calls), elapsed)
        assert sandbox.calls["refresh_reuse"] == 0
        # Both app hosts' workers reached Redis from their own addresses, across the links.
        with redis.Redis.from_url(redis_url) as control:
            peers = {client["addr"].rsplit(":", 1)[0] for client in control.client_list()}
        assert {network.address(app) for app in APP_HOSTS} <= peers, peers
        processes.check_alive()
