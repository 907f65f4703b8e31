"""How a :class:`~.redis.RedisStore` reaches Redis: one server, a Sentinel-watched master, or a
Redis Cluster, chosen by the URL's scheme.

=================================== ==========================================================
``redis://``, ``rediss://``,        one server (or a proxy in front of several), as before
``unix://``
``redis+sentinel://h1:p1,h2:p2/     the master of ``service`` as the sentinels at ``h1``,
service[/db]``                      ``h2`` ... name it, found again after a failover
``redis+cluster://h1:p1,h2:p2``     a Redis Cluster, discovered from any of the nodes given
=================================== ==========================================================

``rediss+sentinel://`` and ``rediss+cluster://`` use TLS to the data nodes. A user and
password in the URL are the data nodes' (a Sentinel's own password is the query's
``sentinel_password``); the rest of the query goes to redis-py as for ``redis://``.

Each face gets its own client. The synchronous ones queue for a free connection (blocking
pools, ``pool_timeout``); redis-py's asyncio cluster client has no blocking pool, so there a
node whose ``max_connections`` are all busy fails the operation at once (StoreError).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.cluster
import redis.connection
import redis.exceptions
import redis.retry
import redis.sentinel

__all__ = ["FAILOVER_RETRIES", "Topology", "build_clients", "topology_of"]


class Topology(enum.Enum):
    """What the store's clients talk to."""

    STANDALONE = "standalone"
    SENTINEL = "sentinel"
    CLUSTER = "cluster"


#: Attempts after the first while a Sentinel-watched master is being replaced. With the
#: backoff below (10 ms doubling to 250 ms, jittered) they span about 4 s: a forced
#: ``SENTINEL FAILOVER`` on a quiet network completes in 1-2 s.
FAILOVER_RETRIES = 20
_SCHEMES = {
    "redis+sentinel": ("redis", Topology.SENTINEL),
    "rediss+sentinel": ("rediss", Topology.SENTINEL),
    "redis+cluster": ("redis", Topology.CLUSTER),
    "rediss+cluster": ("rediss", Topology.CLUSTER),
}


@dataclass(frozen=True, slots=True)
class _Parsed:
    topology: Topology
    url: str  # a plain redis:// or rediss:// URL for redis-py (first host)
    hosts: tuple[tuple[str, int], ...]
    service: str
    sentinel_password: str | None


def topology_of(url: str) -> Topology:
    """The topology a URL names (by its scheme)."""
    scheme = url.partition("://")[0].lower()
    return _SCHEMES.get(scheme, ("", Topology.STANDALONE))[1]


def _parse(url: str) -> _Parsed:
    scheme, _, rest = url.partition("://")
    base, topology = _SCHEMES[scheme.lower()]
    default_port = 26379 if topology is Topology.SENTINEL else 6379
    netloc, slash, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if not slash:  # no path: the query may follow the hosts directly
        netloc, _, query = netloc.partition("?")
    userinfo, at, hostlist = netloc.rpartition("@")
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        parts = urlsplit(f"//{item}")
        if not parts.hostname:
            raise ValueError("a host is missing")
        hosts.append((parts.hostname, parts.port or default_port))
    options = dict(parse_qsl(query, keep_blank_values=True))
    sentinel_password = options.pop("sentinel_password", None)
    service, db = "", ""
    if topology is Topology.SENTINEL:
        service, _, db = path.partition("/")
        service = unquote(service)
        if not service:
            raise ValueError("the Sentinel service name is missing")
    elif path:
        raise ValueError("a cluster has one database; the URL takes no path")
    host, port = hosts[0]
    host = f"[{host}]" if ":" in host else host
    plain = f"{base}://{userinfo}{at}{host}:{port}/{db}"
    if options:
        plain += "?" + urlencode(options)
    return _Parsed(topology, plain, tuple(hosts), service, sentinel_password)


class _SentinelPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's queue for a free connection."""


class _AsyncSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The asyncio form of :class:`_SentinelPool`."""


def _backoff() -> redis.backoff.AbstractBackoff:
    return redis.backoff.ExponentialWithJitterBackoff(cap=0.25, base=0.01)


def build_clients(
    url: str, options: dict[str, Any], async_pool: type[redis.asyncio.ConnectionPool]
) -> tuple[Topology, Any, Any]:
    """The topology, synchronous and asyncio clients for ``url``.

    ``options`` are the pool and socket settings (``max_connections``, ``timeout`` for the
    wait for a free connection, ``socket_timeout`` ...); ``async_pool`` is the standalone
    asyncio pool class.

    Raises:
        ValueError: ``url`` is not a Redis URL this store understands.
    """
    topology = topology_of(url)
    # A stale pooled connection fails once at once: retry it at once, once.
    retry = redis.retry.Retry(redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,))
    aretry = redis.asyncio.retry.Retry(
        redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,)
    )
    if topology is Topology.STANDALONE:
        client = redis.Redis.from_pool(
            redis.BlockingConnectionPool.from_url(url, retry=retry, **options)
        )
        async_client = redis.asyncio.Redis.from_pool(
            async_pool.from_url(url, retry=aretry, **options)
        )
        return topology, client, async_client
    parsed = _parse(url)
    if topology is Topology.SENTINEL:
        return topology, *_sentinel_clients(parsed, options)
    return topology, *_cluster_clients(parsed, options)


def _sentinel_clients(parsed: _Parsed, options: dict[str, Any]) -> tuple[Any, Any]:
    node = redis.connection.parse_url(parsed.url)  # type: ignore[no-untyped-call]
    node.pop("host", None)
    node.pop("port", None)
    ssl = node.pop("connection_class", None) in (
        redis.SSLConnection,
        redis.asyncio.SSLConnection,
    )
    kwargs = {**node, **options}
    if ssl:
        kwargs["ssl"] = True
    # Sentinels are asked with the same short timeouts, and their own password if any.
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
    }
    if parsed.sentinel_password is not None:
        sentinel_kwargs["password"] = parsed.sentinel_password
    # While the master is replaced, a command fails with a lost connection, READONLY (the old
    # master, now a replica; redis-py reports it as a ConnectionError) or "no master found":
    # each is retried with a short backoff, rediscovering the master, for about 4 s.
    failover = (redis.exceptions.ConnectionError,)
    # (Recent redis-py types the Sentinel classes; older releases leave these calls untyped.)
    sync = redis.sentinel.Sentinel(list(parsed.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call, unused-ignore]
    client = sync.master_for(  # type: ignore[no-untyped-call, unused-ignore]
        parsed.service,
        connection_pool_class=_SentinelPool,
        retry=redis.retry.Retry(_backoff(), FAILOVER_RETRIES, failover),
        **kwargs,
    )
    asentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        list(parsed.hosts), sentinel_kwargs=sentinel_kwargs
    )
    async_client = asentinel.master_for(
        parsed.service,
        connection_pool_class=_AsyncSentinelPool,
        retry=redis.asyncio.retry.Retry(_backoff(), FAILOVER_RETRIES, failover),
        **kwargs,
    )
    return client, async_client


def _cluster_clients(parsed: _Parsed, options: dict[str, Any]) -> tuple[Any, Any]:
    # MOVED and ASK are followed by the clients; a node that cannot be reached or a cluster
    # that is down (CLUSTERDOWN, a slot not covered) is retried a few times with a short
    # backoff while the cluster fails over, then fails (StoreError).
    retries = 3
    sync_nodes = [
        redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in parsed.hosts[1:]
    ]
    client = redis.cluster.RedisCluster.from_url(
        parsed.url,
        startup_nodes=sync_nodes or None,
        connection_pool_class=redis.BlockingConnectionPool,
        retry=redis.retry.Retry(_backoff(), retries),
        **options,
    )
    async_options = {key: value for key, value in options.items() if key != "timeout"}
    async_nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in parsed.hosts[1:]]
    async_client = redis.asyncio.cluster.RedisCluster.from_url(
        parsed.url,
        startup_nodes=async_nodes or None,
        retry=redis.asyncio.retry.Retry(_backoff(), retries),
        **async_options,
    )
    return client, async_client
