"""The Redis store: sessions and refresh locks shared by every process and host.

One :class:`RedisStore` serves both faces of the store protocol: the synchronous methods use a
``redis.Redis`` client, the ``a``-prefixed ones a ``redis.asyncio.Redis`` client, each with its
own connection pool. Every operation is a single round trip and atomic on the server:

========== ==========================================================
get        ``GET``
set        ``SET key value PX ttl``
add        ``SET key value NX PX ttl`` (the refresh lock)
take       ``GETDEL`` (Redis 6.2 or later)
delete     ``DEL``
delete_if  a Lua compare-and-delete (a lock released by its owner only)
replace_if a Lua compare-and-set that sets a new ``PX`` (also a lease renewal)
========== ==========================================================

Values are the sealed bytes the session layer gives (AES-GCM, under keys that are hashes), so
Redis never holds a token, a handle or a nonce in the clear. Every key gets a TTL. Any Redis
failure (refused, timed out, an error reply) raises :class:`~redtrust_middleware.exceptions.
StoreError` naming the operation, never a key or a value; short socket timeouts make a slow
Redis fail fast instead of holding a request.

Each face has a bounded, blocking pool (``max_connections``, 50 by default): when every
connection is busy an operation waits for one to come back, for up to ``pool_timeout``, so a
burst of requests larger than the pool queues instead of failing; only a pool that stays busy
that long is a StoreError (which names the pool size and how to raise it).

redis-py is an optional dependency: ``pip install "redtrust-middleware[redis]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError, StoreError

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.backoff
    import redis.cluster
    import redis.commands.core
    import redis.exceptions
    import redis.sentinel

    from ._redis_topology import Topology, build_clients
    from ._tracking import TrackedReads, resp2_connector
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        'RedisStore needs the redis package: pip install "redtrust-middleware[redis]"'
    ) from error

__all__ = [
    "CLIENT_CACHE_ENV",
    "DEFAULT_MAX_CONNECTIONS",
    "MAX_CONNECTIONS_ENV",
    "REDIS_URL_ENV",
    "RedisStore",
]

#: The environment variable :meth:`RedisStore.from_env` reads.
REDIS_URL_ENV = "REDTRUST_REDIS_URL"
#: The optional environment variable for ``max_connections`` in :meth:`RedisStore.from_env`.
MAX_CONNECTIONS_ENV = "REDTRUST_REDIS_MAX_CONNECTIONS"
#: The optional environment variable that turns the client-side cache on in
#: :meth:`RedisStore.from_env` (``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``).
CLIENT_CACHE_ENV = "REDTRUST_REDIS_CLIENT_CACHE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: Connections per pool (one pool per face and process) unless configured otherwise.
DEFAULT_MAX_CONNECTIONS = 50
# What redis-py's blocking pools raise when no connection came back in time, and what its
# default pools raise when full (in the releases that have it).
_POOL_TIMED_OUT = "No connection available."
_POOL_FULL: tuple[type[Exception], ...] = tuple(
    getattr(redis.exceptions, name)
    for name in ("MaxConnectionsError",)
    if hasattr(redis.exceptions, name)
)

# KEYS[1] is deleted only while it holds ARGV[1]: the owner releases its lock, nobody else.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] becomes ARGV[2] for ARGV[3] ms only while it holds ARGV[1] (compare-and-set).
_REPLACE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""


def _milliseconds(ttl: float) -> int:
    """``ttl`` seconds as a positive whole number of milliseconds (rounded up)."""
    if not ttl > 0 or math.isinf(ttl):
        raise ValueError("ttl must be positive and finite")
    return max(1, math.ceil(ttl * 1000))


def _redacted(url: str) -> str:
    """``url`` without its password or query (a query may carry one too)."""
    scheme, _, rest = url.partition("://")
    if "," in rest.partition("/")[0]:  # several hosts (Sentinel, Cluster): name the first
        userinfo, _, hosts = rest.partition("/")[0].rpartition("@")
        first, _, others = hosts.partition(",")
        count = others.count(",") + 1
        user = userinfo.partition(":")[0] + (":***" if ":" in userinfo else "")
        path = rest.partition("/")[2].partition("?")
        tail = f"/{path[0]}" if path[0] else ""
        return (
            f"{scheme}://{user + '@' if user else ''}{first},...(+{count}){tail}"
            f"{'?...' if path[2] else ''}"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    user = parts.username or ""
    if parts.password is not None:
        user += ":***"
    userinfo = f"{user}@" if user else ""
    host = f"[{host}]" if ":" in host else host
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{userinfo}{host}{port}{parts.path}{query}"


def _pool_size(value: object, field: str = "max_connections") -> int:
    """``value`` if it is a pool size, else a ConfigurationError that names the fix."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            field,
            f"must be a whole number of connections, at least 1 "
            f"(per pool and process; the default is {DEFAULT_MAX_CONNECTIONS})",
        )
    return value


def _exhausted(error: Exception) -> bool:
    """True for a pool with no free connection (redis-py's wait timed out, or a non-blocking
    pool of an injected client was full)."""
    return isinstance(error, _POOL_FULL) or (
        isinstance(error, redis.exceptions.ConnectionError) and str(error) == _POOL_TIMED_OUT
    )


def _describe(error: Exception) -> str:
    """A short cause for a StoreError: the kind of failure, never the server's text."""
    if isinstance(error, redis.sentinel.MasterNotFoundError):
        return "no master found: the sentinels name none that is up (a failover under way?)"
    if isinstance(error, redis.exceptions.ClusterDownError | redis.exceptions.SlotNotCoveredError):
        return "the cluster is down or does not cover the key's slot"
    if isinstance(error, redis.exceptions.RedisClusterException):
        return "cannot reach the cluster"
    if isinstance(error, redis.exceptions.ReadOnlyError):
        return "the server is a read-only replica (a failover under way?)"
    if isinstance(error, redis.exceptions.AuthenticationError):
        return "authentication failed"
    if isinstance(error, redis.exceptions.BusyLoadingError):
        return "Redis is loading its data"
    if isinstance(error, redis.exceptions.ConnectionError):
        return "cannot connect"
    if isinstance(error, redis.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(error, redis.exceptions.ResponseError):
        return f"error reply ({type(error).__name__})"
    return type(error).__name__


class _AsyncPool(redis.asyncio.BlockingConnectionPool):
    """redis-py's asyncio blocking pool, at the cost of its default pool while no one waits.

    The blocking pool arms a timer and takes a condition for every checkout and release: 29
    µs of CPU per command against 10 µs in the default pool (measured with redis-py 8.1),
    and a signed-in request makes one command. While no task is queued for a connection,
    taking a free one cannot wait and returning one has no one to wake, so both are done as
    the default pool does them. Otherwise a task joins the blocking pool's queue (first come,
    first served, bounded by ``timeout``), and newcomers queue behind it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = 0  # tasks inside the blocking checkout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if (
            not self._queued
            and not getattr(self, "_in_maintenance", False)
            and self.can_get_connection()
        ):
            # One event loop: nothing can take the free connection before this call does.
            return await redis.asyncio.ConnectionPool.get_connection(self, *args, **kwargs)  # type: ignore[no-untyped-call]
        self._queued += 1
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            self._queued -= 1

    def _waiting(self) -> bool:
        return self._queued > 0

    async def release(self, connection: Any) -> None:
        if self._waiting():
            await super().release(connection)  # under the condition, waking the first waiter
            return
        await redis.asyncio.ConnectionPool.release(self, connection)
        if self._waiting():  # a task began to wait while the release was under way: wake it
            async with self._condition:
                self._condition.notify()


def _hash_tagged(key: str) -> str:
    """``key`` with its last ``:``-separated part as its hash tag, for a Redis Cluster.

    The session layer names keys ``<namespace>:<kind>:<digest>``, and a session's record and
    its refresh lock share the digest of its handle: tagged ``{<digest>}``, they hash to one
    slot, so they live on one node and fail over together. Every command and script touches
    one key, so none can fail with CROSSSLOT whatever the tags; a key already holding a
    brace is left as it is (its own tag, if any, stands).
    """
    if "{" in key or "}" in key:
        return key
    head, colon, last = key.rpartition(":")
    return f"{head}{colon}{{{last}}}"


def _topology_of_clients(client: object, async_client: object) -> Topology:
    """The topology of injected clients (both of one kind)."""
    kinds = {
        isinstance(given, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)
        for given in (client, async_client)
        if given is not None
    }
    if len(kinds) > 1:
        raise ConfigurationError(
            "client", "give two cluster clients or two plain ones, not one of each"
        )
    return Topology.CLUSTER if kinds == {True} else Topology.STANDALONE


def _sentinels_of(client: object) -> list[Any]:
    """The clients to the sentinels behind a Sentinel-managed client (none otherwise)."""
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    return list(getattr(manager, "sentinels", ()))


class _Face(NamedTuple):
    client: redis.Redis
    delete_if: redis.commands.core.Script
    replace_if: redis.commands.core.Script


class _AsyncFace(NamedTuple):
    client: redis.asyncio.Redis
    delete_if: redis.commands.core.AsyncScript
    replace_if: redis.commands.core.AsyncScript


class RedisStore:
    """A :class:`~.base.Store` and :class:`~.base.AsyncStore` on Redis (redis-py).

    Args:
        url: ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL; both clients are built
            from it with the settings below (options in the URL's query win).
        client: an injected ``redis.Redis`` for the synchronous methods.
        async_client: an injected ``redis.asyncio.Redis`` for the asynchronous ones.
        prefix: put before every key, to share one Redis between applications. The session
            layer already namespaces its keys (``redtrust:session:...``), so the default adds
            nothing.
        socket_timeout: seconds to wait for a reply before failing with StoreError.
        connect_timeout: seconds to wait for a new connection to open. Generous (5 s) because
            it is measured on the worker's own event loop: pools open their connections when
            a burst arrives, and a swamped loop made that take up to a second in tests.
        max_connections: the size of each connection pool (one per face, so per process at
            most twice this many connections to Redis). When all are busy an operation waits.
        pool_timeout: seconds an operation waits for a free connection when all
            ``max_connections`` are busy, before failing with StoreError.

    Give either ``url`` or the client(s); injected clients must not decode responses, are
    used as given (their own pool and its size) and are not closed by :meth:`close` /
    :meth:`aclose` (their owner closes them). A store built from a URL makes one client per
    face, each on its own ``BlockingConnectionPool``; use its asynchronous face from one
    event loop (one store per application).

    A failure to connect is retried once at once (a pooled connection may have gone stale);
    a timeout is never retried, since the command may have run.

    Raises:
        ConfigurationError: naming the setting at fault.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "",
        socket_timeout: float = 1.0,
        connect_timeout: float = 5.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float = 5.0,
        client_cache: bool = False,
        client_cache_entries: int = 100_000,
        client_cache_prefix: str = "redtrust:session:",
    ) -> None:
        if url is not None and (client is not None or async_client is not None):
            raise ConfigurationError("url", "give either a URL or clients, not both")
        if url is None and client is None and async_client is None:
            raise ConfigurationError("url", "give a Redis URL or a client")
        for name, timeout in (
            ("socket_timeout", socket_timeout),
            ("connect_timeout", connect_timeout),
            ("pool_timeout", pool_timeout),
        ):
            if isinstance(timeout, bool) or not isinstance(timeout, int | float):
                raise ConfigurationError(name, "must be a number of seconds")
            if not 0 < timeout < math.inf:
                raise ConfigurationError(name, "timeouts must be positive and finite")
        max_connections = _pool_size(max_connections)
        self.prefix = prefix
        self._url = url
        self._owns_clients = url is not None
        if url is not None:
            options: dict[str, Any] = {
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": connect_timeout,
                "max_connections": max_connections,
                "timeout": pool_timeout,  # the blocking pool's wait for a free connection
                "decode_responses": False,
            }
            try:
                self.topology, client, async_client = build_clients(url, options, _AsyncPool)
            except ValueError as error:
                raise ConfigurationError("url", f"is not a valid Redis URL ({error})") from None
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError):
                # Only a cluster client connects while it is built (to learn the slots).
                raise StoreError(
                    "Redis store: connect failed: cannot reach any node of the cluster"
                ) from None
        else:
            self.topology = _topology_of_clients(client, async_client)
        if self.topology is Topology.CLUSTER and ("{" in prefix or "}" in prefix):
            # The first {...} in a key is its hash tag: one in the prefix would put every
            # key of the application in one slot.
            raise ConfigurationError("prefix", "must not contain { or } on a Redis Cluster")
        #: Whether keys carry a hash tag (on a cluster): ``...:session:{<digest>}``.
        self._tagged = self.topology is Topology.CLUSTER
        for given in (client, async_client):
            if given is not None and given.get_connection_kwargs().get("decode_responses"):
                raise ConfigurationError("client", "must be built with decode_responses=False")
        # Scripts are registered once; redis-py loads them again after a NOSCRIPT reply.
        self._sync = (
            None
            if client is None
            else _Face(
                client, client.register_script(_DELETE_IF), client.register_script(_REPLACE_IF)
            )
        )
        self._async = (
            None
            if async_client is None
            else _AsyncFace(
                async_client,
                async_client.register_script(_DELETE_IF),
                async_client.register_script(_REPLACE_IF),
            )
        )
        pool = getattr(client or async_client, "connection_pool", None)
        if pool is None:  # a cluster client: one pool per node, each of this size
            kwargs = (client or async_client).get_connection_kwargs()  # type: ignore[union-attr]
            pool_size = kwargs.get("max_connections") or max_connections
            self._pool_timeout: float | None = kwargs.get("timeout")
        else:
            pool_size = pool.max_connections
            self._pool_timeout = getattr(pool, "timeout", None)
        #: The size of each pool (as the URL's query may have set it, or an injected one's;
        #: on a cluster, per node).
        self.max_connections: int = pool_size
        #: The client-side cache (``client_cache=True``), else None.
        self.tracked: TrackedReads | None = None
        if client_cache:
            self.tracked = self._tracked_reads(client_cache_entries, client_cache_prefix)
            # An attribute, not a method, so a store without the cache offers no local reads
            # (the session layer then skips asking) and one with it answers in one call.
            self.read_local = self.tracked.read_local

    def _tracked_reads(self, entries: object, prefix: object) -> TrackedReads:
        if self.topology is Topology.CLUSTER:
            raise ConfigurationError(
                "client_cache",
                "is not available on a Redis Cluster (each node would need its own listener); "
                "leave it off there: every read is one GET",
            )
        if self._sync is None:
            raise ConfigurationError(
                "client_cache", "needs the synchronous client too (its listener runs in a thread)"
            )
        if isinstance(entries, bool) or not isinstance(entries, int) or entries < 1:
            raise ConfigurationError(
                "client_cache_entries", "must be a whole number of records, at least 1"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError("client_cache_prefix", "must be a non-empty key prefix")
        connect = resp2_connector(self._sync.client.connection_pool)
        return TrackedReads(connect, prefix=prefix, redis_prefix=self.prefix, max_entries=entries)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> RedisStore:
        """A store for the URL in ``REDTRUST_REDIS_URL``; keywords as for the constructor.

        ``REDTRUST_REDIS_MAX_CONNECTIONS``, when set, gives ``max_connections`` (a keyword
        wins over it).

        Raises:
            ConfigurationError: naming the variable at fault (unset, not a Redis URL, not a
                pool size).
        """
        env = os.environ if environ is None else environ
        url = env.get(REDIS_URL_ENV, "").strip()
        if not url:
            raise ConfigurationError(REDIS_URL_ENV, "is not set")
        cache = env.get(CLIENT_CACHE_ENV, "").strip().lower()
        if cache and "client_cache" not in options:
            if cache not in _TRUE + _FALSE:
                raise ConfigurationError(
                    CLIENT_CACHE_ENV, f"must be one of {', '.join(_TRUE + _FALSE)}"
                )
            options["client_cache"] = cache in _TRUE
        size = env.get(MAX_CONNECTIONS_ENV, "").strip()
        if size and "max_connections" not in options:
            number = int(size) if size.isdecimal() else None
            options["max_connections"] = _pool_size(number, MAX_CONNECTIONS_ENV)
        try:
            return cls(url=url, **options)
        except ConfigurationError as error:
            if error.field != "url":
                raise
            raise ConfigurationError(REDIS_URL_ENV, error.problem) from None

    def __repr__(self) -> str:
        where = "clients=injected" if self._url is None else f"url={_redacted(self._url)!r}"
        return f"RedisStore({where}, prefix={self.prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if self._tagged:
            return self.prefix + _hash_tagged(key)
        return self.prefix + key

    @contextlib.contextmanager
    def _failures(self, operation: str) -> Iterator[None]:
        """Turn any Redis failure into a StoreError that names only the operation."""
        try:
            yield
        except (
            redis.exceptions.RedisError,
            redis.exceptions.RedisClusterException,
            OSError,
        ) as error:
            # Not chained: a driver's message may quote the command it was running.
            cause = self._no_free_connection() if _exhausted(error) else _describe(error)
            raise StoreError(f"Redis store: {operation} failed: {cause}") from None

    @contextlib.contextmanager
    def _writing(self, operation: str, key: str) -> Iterator[None]:
        """:meth:`_failures` for a write of ``key``, which the client-side cache then drops
        (even when the write failed: it may have run)."""
        try:
            with self._failures(operation):
                yield
        finally:
            if self.tracked is not None:
                self.tracked.forget(key)

    def _no_free_connection(self) -> str:
        waited = "" if self._pool_timeout is None else f" for {self._pool_timeout:g} s"
        fix = (
            "the injected client's pool is too small"
            if not self._owns_clients
            else f"raise max_connections (RedisStore(max_connections=...) or {MAX_CONNECTIONS_ENV})"
        )
        return (
            f"no free connection: all {self.max_connections} of the pool were busy{waited}; "
            f"{fix}, or look for slow Redis commands"
        )

    def _face(self) -> _Face:
        if self._sync is None:
            raise ConfigurationError("client", "this RedisStore has no synchronous client")
        return self._sync

    def _aface(self) -> _AsyncFace:
        if self._async is None:
            raise ConfigurationError("async_client", "this RedisStore has no asyncio client")
        return self._async

    @staticmethod
    def _bytes(value: Any) -> bytes | None:
        return None if value is None else bytes(value)

    # -- the synchronous face ----------------------------------------------------------------

    def ping(self) -> None:
        """Check that Redis answers (a start-up check); raises StoreError otherwise."""
        with self._failures("ping"):
            self._face().client.ping()

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired (kept by the client-side cache, if on)."""
        tracked = self.tracked
        ticket = None if tracked is None else tracked.begin(key)
        if ticket is None:
            with self._failures("get"):
                return self._bytes(self._face().client.get(self._key(key)))
        assert tracked is not None
        value, pttl = None, -2
        try:
            with self._failures("get"):
                # One round trip, atomic (MULTI/EXEC): the value, and how long it may be kept.
                pipe = self._face().client.pipeline(transaction=True)
                pipe.get(self._key(key))
                pipe.pttl(self._key(key))
                raw, pttl = pipe.execute()
            value = self._bytes(raw)
            return value
        finally:
            tracked.fill(key, ticket, value, pttl)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        ms = _milliseconds(ttl)
        with self._writing("set", key):
            self._face().client.set(self._key(key), value, px=ms)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if absent (``SET NX``); True when stored."""
        ms = _milliseconds(ttl)
        with self._writing("add", key):
            return bool(self._face().client.set(self._key(key), value, px=ms, nx=True))

    def take(self, key: str) -> bytes | None:
        """Get and delete atomically (``GETDEL``)."""
        with self._writing("take", key):
            return self._bytes(self._face().client.getdel(self._key(key)))

    def delete(self, key: str) -> None:
        """Delete if present."""
        with self._writing("delete", key):
            self._face().client.delete(self._key(key))

    def delete_if(self, key: str, value: bytes) -> bool:
        """Delete only while ``key`` still holds ``value``."""
        script = self._face().delete_if
        with self._writing("delete_if", key):
            return bool(script(keys=[self._key(key)], args=[value]))

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds only while ``key`` still holds ``expected``."""
        ms = _milliseconds(ttl)
        script = self._face().replace_if
        with self._writing("replace_if", key):
            return bool(script(keys=[self._key(key)], args=[expected, value, ms]))

    def close(self) -> None:
        """Close the synchronous connection pool (only when this store made it) and stop the
        client-side cache's listener."""
        if self.tracked is not None:
            self.tracked.close()
        if self._owns_clients and self._sync is not None:
            self._sync.client.close()
            # A Sentinel client's pool asks the sentinels through clients of their own.
            for sentinel in _sentinels_of(self._sync.client):
                sentinel.close()

    # -- the asynchronous face ---------------------------------------------------------------

    async def aping(self) -> None:
        """Async :meth:`ping`."""
        with self._failures("ping"):
            await self._aface().client.ping()

    async def aget(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        tracked = self.tracked
        ticket = None if tracked is None else tracked.begin(key)
        if ticket is None:
            with self._failures("get"):
                return self._bytes(await self._aface().client.get(self._key(key)))
        assert tracked is not None
        value, pttl = None, -2
        try:
            with self._failures("get"):
                pipe = self._aface().client.pipeline(transaction=True)
                pipe.get(self._key(key))
                pipe.pttl(self._key(key))
                raw, pttl = await pipe.execute()
            value = self._bytes(raw)
            return value
        finally:
            tracked.fill(key, ticket, value, pttl)

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """Async :meth:`set`."""
        ms = _milliseconds(ttl)
        with self._writing("set", key):
            await self._aface().client.set(self._key(key), value, px=ms)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`add`."""
        ms = _milliseconds(ttl)
        with self._writing("add", key):
            return bool(await self._aface().client.set(self._key(key), value, px=ms, nx=True))

    async def atake(self, key: str) -> bytes | None:
        """Async :meth:`take`."""
        with self._writing("take", key):
            return self._bytes(await self._aface().client.getdel(self._key(key)))

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        with self._writing("delete", key):
            await self._aface().client.delete(self._key(key))

    async def adelete_if(self, key: str, value: bytes) -> bool:
        """Async :meth:`delete_if`."""
        script = self._aface().delete_if
        with self._writing("delete_if", key):
            return bool(await script(keys=[self._key(key)], args=[value]))

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`replace_if`."""
        ms = _milliseconds(ttl)
        script = self._aface().replace_if
        with self._writing("replace_if", key):
            return bool(await script(keys=[self._key(key)], args=[expected, value, ms]))

    async def aclose(self) -> None:
        """Close the asyncio connection pool (only when this store made it) and stop the
        client-side cache's listener."""
        if self.tracked is not None:
            # Off the event loop: the listener may be inside a connect that takes a while.
            await asyncio.to_thread(self.tracked.close)
        if self._owns_clients and self._async is not None:
            await self._async.client.aclose()
            for sentinel in _sentinels_of(self._async.client):
                await sentinel.aclose()
