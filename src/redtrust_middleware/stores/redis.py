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

redis-py is an optional dependency: ``pip install "redtrust-middleware[redis]"``.
"""

from __future__ import annotations

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
    import redis.asyncio.retry
    import redis.backoff
    import redis.commands.core
    import redis.exceptions
    import redis.retry
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        'RedisStore needs the redis package: pip install "redtrust-middleware[redis]"'
    ) from error

__all__ = ["REDIS_URL_ENV", "RedisStore"]

#: The environment variable :meth:`RedisStore.from_env` reads.
REDIS_URL_ENV = "REDTRUST_REDIS_URL"

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


def _describe(error: Exception) -> str:
    """A short cause for a StoreError: the kind of failure, never the server's text."""
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
            from it with the timeouts below (options in the URL's query win).
        client: an injected ``redis.Redis`` for the synchronous methods.
        async_client: an injected ``redis.asyncio.Redis`` for the asynchronous ones.
        prefix: put before every key, to share one Redis between applications. The session
            layer already namespaces its keys (``redtrust:session:...``), so the default adds
            nothing.
        socket_timeout: seconds to wait for a reply before failing with StoreError.
        connect_timeout: seconds to wait for a connection.
        max_connections: a bound on each connection pool (None: unbounded).

    Give either ``url`` or the client(s); injected clients must not decode responses, and
    are not closed by :meth:`close` / :meth:`aclose` (their owner closes them). A store built
    from a URL makes one pooled client per face; use its asynchronous face from one event
    loop (one store per application).

    A failure to connect is retried once at once (a pooled connection may have gone stale);
    a timeout is never retried, since the command may have run.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "",
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        max_connections: int | None = None,
    ) -> None:
        if url is not None and (client is not None or async_client is not None):
            raise ConfigurationError("url", "give either a URL or clients, not both")
        if url is None and client is None and async_client is None:
            raise ConfigurationError("url", "give a Redis URL or a client")
        if socket_timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("socket_timeout", "timeouts must be positive")
        self.prefix = prefix
        self._url = url
        self._owns_clients = url is not None
        if url is not None:
            options: dict[str, Any] = {
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": connect_timeout,
                "max_connections": max_connections,
                "decode_responses": False,
            }
            try:
                client = redis.Redis.from_url(
                    url,
                    retry=redis.retry.Retry(
                        redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,)
                    ),
                    **options,
                )
                async_client = redis.asyncio.Redis.from_url(
                    url,
                    retry=redis.asyncio.retry.Retry(
                        redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,)
                    ),
                    **options,
                )
            except ValueError:
                raise ConfigurationError("url", "is not a valid Redis URL") from None
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> RedisStore:
        """A store for the URL in ``REDTRUST_REDIS_URL``; keywords as for the constructor.

        Raises:
            ConfigurationError: the variable is unset or not a Redis URL.
        """
        env = os.environ if environ is None else environ
        url = env.get(REDIS_URL_ENV, "").strip()
        if not url:
            raise ConfigurationError(REDIS_URL_ENV, "is not set")
        try:
            return cls(url=url, **options)
        except ConfigurationError as error:
            raise ConfigurationError(REDIS_URL_ENV, error.problem) from None

    def __repr__(self) -> str:
        where = "clients=injected" if self._url is None else f"url={_redacted(self._url)!r}"
        return f"RedisStore({where}, prefix={self.prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + key

    @contextlib.contextmanager
    def _failures(self, operation: str) -> Iterator[None]:
        """Turn any Redis failure into a StoreError that names only the operation."""
        try:
            yield
        except (redis.exceptions.RedisError, OSError) as error:
            # Not chained: a driver's message may quote the command it was running.
            raise StoreError(f"Redis store: {operation} failed: {_describe(error)}") from None

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
        """The value, or None when absent or expired."""
        with self._failures("get"):
            return self._bytes(self._face().client.get(self._key(key)))

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        ms = _milliseconds(ttl)
        with self._failures("set"):
            self._face().client.set(self._key(key), value, px=ms)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if absent (``SET NX``); True when stored."""
        ms = _milliseconds(ttl)
        with self._failures("add"):
            return bool(self._face().client.set(self._key(key), value, px=ms, nx=True))

    def take(self, key: str) -> bytes | None:
        """Get and delete atomically (``GETDEL``)."""
        with self._failures("take"):
            return self._bytes(self._face().client.getdel(self._key(key)))

    def delete(self, key: str) -> None:
        """Delete if present."""
        with self._failures("delete"):
            self._face().client.delete(self._key(key))

    def delete_if(self, key: str, value: bytes) -> bool:
        """Delete only while ``key`` still holds ``value``."""
        script = self._face().delete_if
        with self._failures("delete_if"):
            return bool(script(keys=[self._key(key)], args=[value]))

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds only while ``key`` still holds ``expected``."""
        ms = _milliseconds(ttl)
        script = self._face().replace_if
        with self._failures("replace_if"):
            return bool(script(keys=[self._key(key)], args=[expected, value, ms]))

    def close(self) -> None:
        """Close the synchronous connection pool (only when this store made it)."""
        if self._owns_clients and self._sync is not None:
            self._sync.client.close()

    # -- the asynchronous face ---------------------------------------------------------------

    async def aping(self) -> None:
        """Async :meth:`ping`."""
        with self._failures("ping"):
            await self._aface().client.ping()

    async def aget(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        with self._failures("get"):
            return self._bytes(await self._aface().client.get(self._key(key)))

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """Async :meth:`set`."""
        ms = _milliseconds(ttl)
        with self._failures("set"):
            await self._aface().client.set(self._key(key), value, px=ms)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`add`."""
        ms = _milliseconds(ttl)
        with self._failures("add"):
            return bool(await self._aface().client.set(self._key(key), value, px=ms, nx=True))

    async def atake(self, key: str) -> bytes | None:
        """Async :meth:`take`."""
        with self._failures("take"):
            return self._bytes(await self._aface().client.getdel(self._key(key)))

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        with self._failures("delete"):
            await self._aface().client.delete(self._key(key))

    async def adelete_if(self, key: str, value: bytes) -> bool:
        """Async :meth:`delete_if`."""
        script = self._aface().delete_if
        with self._failures("delete_if"):
            return bool(await script(keys=[self._key(key)], args=[value]))

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        """Async :meth:`replace_if`."""
        ms = _milliseconds(ttl)
        script = self._aface().replace_if
        with self._failures("replace_if"):
            return bool(await script(keys=[self._key(key)], args=[expected, value, ms]))

    async def aclose(self) -> None:
        """Close the asyncio connection pool (only when this store made it)."""
        if self._owns_clients and self._async is not None:
            await self._async.client.aclose()
