"""Real Redis topologies for tests: a 3-master Redis Cluster, and a master with a replica
watched by 3 sentinels, each of ``redis-server`` processes on free loopback ports.

Every process is started with ``--daemonize no`` under this Python process and stopped (SIGTERM,
then SIGKILL) by ``close``; every wait polls with a deadline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from redtrust_middleware.testing import require_system

__all__ = ["ClusterNodes", "SentinelGroup", "cluster_nodes", "sentinel_group", "wait_for"]

SERVICE = "redtrust"
SLOTS = 16384


def wait_for(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it is true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # polling with a deadline


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class _Processes:
    """redis-server processes, each in its own directory, all stopped by :meth:`close`."""

    def __init__(self) -> None:
        require_system(
            shutil.which("redis-server") is not None,
            "redis-server is missing (apt-get install -y redis-server)",
        )
        self._workdir = tempfile.TemporaryDirectory(prefix="redtrust-topology-")
        self.root = Path(self._workdir.name)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int, *extra: str, config: str | None = None) -> None:
        home = self.root / str(port)
        home.mkdir()
        argv = ["redis-server"]
        if config is not None:  # sentinels rewrite their configuration file
            (home / "sentinel.conf").write_text(config)
            argv.append(str(home / "sentinel.conf"))
        argv += [
            "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(home), "--daemonize", "no", "--loglevel", "warning", *extra,
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            process = self.processes[port]
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"redis-server on port {port} exited: {output[-2000:]}")
            with redis.Redis(port=port, socket_timeout=1) as client:
                return bool(client.ping())

        wait_for(f"redis-server on port {port}", answers)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
        self._workdir.cleanup()


class ClusterNodes:
    """A running 3-master Redis Cluster (no replicas); ``url`` is a ``redis+cluster://`` URL."""

    def __init__(self, processes: _Processes, ports: list[int]) -> None:
        self.processes = processes
        self.ports = ports
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)

    def client(self) -> redis.cluster.RedisCluster:
        """A plain cluster client (the caller closes it)."""
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def flush(self) -> None:
        for port in self.ports:
            with redis.Redis(port=port) as node:
                node.flushall()


@contextmanager
def cluster_nodes() -> Iterator[ClusterNodes]:
    """Start 3 cluster-enabled servers, give each a third of the slots, join them, and wait
    until every node reports ``cluster_state:ok``."""
    processes = _Processes()
    try:
        ports, buses = (lambda ports: (ports[:3], ports[3:]))(_free_ports(6))
        for port, bus in zip(ports, buses, strict=True):
            processes.start(
                port,
                "--cluster-enabled", "yes",
                "--cluster-port", str(bus),  # a free port, not port + 10000
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000",
            )  # fmt: skip
        clients = [redis.Redis(port=port) for port in ports]
        # execute_command is untyped in redis-py; the cluster commands have no typed form.
        try:
            bounds = [0, SLOTS // 3, 2 * SLOTS // 3, SLOTS]
            for index, client in enumerate(clients):
                client.execute_command(  # type: ignore[no-untyped-call]
                    "CLUSTER", "ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1
                )
            for port, bus in zip(ports[1:], buses[1:], strict=True):
                clients[0].execute_command(  # type: ignore[no-untyped-call]
                    "CLUSTER", "MEET", "127.0.0.1", port, bus
                )

            def ready() -> bool:
                return all(
                    b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
                    and len(client.execute_command("CLUSTER", "SLOTS")) == 3  # type: ignore[no-untyped-call]
                    for client in clients
                )

            wait_for("the cluster to be ok on every node", ready)
        finally:
            for client in clients:
                client.close()
        yield ClusterNodes(processes, ports)
    finally:
        processes.close()


class SentinelGroup:
    """A master, one replica and 3 sentinels watching them as ``SERVICE``."""

    def __init__(self, processes: _Processes, data: list[int], sentinels: list[int]) -> None:
        self.processes = processes
        self.data = data
        self.sentinels = sentinels
        self.url = (
            "redis+sentinel://"
            + ",".join(f"127.0.0.1:{port}" for port in sentinels)
            + f"/{SERVICE}/0"
        )

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinels[index], decode_responses=True)

    def master_port(self) -> int:
        with self.sentinel() as sentinel:
            _host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def role(self, port: int) -> str:
        with redis.Redis(port=port, decode_responses=True) as node:
            return str(node.execute_command("ROLE")[0])

    def synced(self, master: int | None = None) -> bool:
        """True when the replica has every write of the master (equal offsets, link up);
        the master is the sentinels' unless given."""
        master = self.master_port() if master is None else master
        replica = next(port for port in self.data if port != master)
        with redis.Redis(port=master) as m, redis.Redis(port=replica) as r:
            info = r.info("replication")
            return bool(
                info.get("master_link_status") == "up"
                and info.get("master_port") == master
                and info["slave_repl_offset"] == m.info("replication")["master_repl_offset"]
            )

    def ready(self) -> bool:
        """Each sentinel knows the master, a healthy replica and the two other sentinels."""
        for index in range(len(self.sentinels)):
            with self.sentinel(index) as sentinel:
                state = sentinel.sentinel_master(SERVICE)
                if state["num-other-sentinels"] != len(self.sentinels) - 1:
                    return False
                if state["is_sdown"] or state["is_odown"]:
                    return False
                healthy = [
                    replica
                    for replica in sentinel.sentinel_slaves(SERVICE)
                    if not replica["is_sdown"] and replica["master-link-status"] == "ok"
                ]
                if not healthy:
                    return False
        return True


@contextmanager
def sentinel_group() -> Iterator[SentinelGroup]:
    """Start the master and its replica, wait for the replica's link, then 3 sentinels, and
    wait until each sentinel sees the replica and the other sentinels."""
    processes = _Processes()
    try:
        ports = _free_ports(5)
        master, replica, *sentinels = ports
        processes.start(master)
        processes.start(replica, "--replicaof", "127.0.0.1", str(master))
        group = SentinelGroup(processes, [master, replica], sentinels)
        wait_for("the replica to sync", lambda: group.synced(master))
        for port in sentinels:
            processes.start(
                port,
                "--sentinel",
                config=(
                    f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
                    f"sentinel down-after-milliseconds {SERVICE} 2000\n"
                    f"sentinel failover-timeout {SERVICE} 10000\n"
                    f"sentinel parallel-syncs {SERVICE} 1\n"
                ),
            )
        wait_for("the sentinels to see the replica and each other", group.ready, timeout=20)
        yield group
    finally:
        processes.close()
