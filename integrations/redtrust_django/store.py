"""The store a Django request runs over: the site's session engine plus a Django cache.

A browser's own records (its signed-in session, its pending logins) live in
``request.session`` (already sealed by the core), so they follow the site's session engine
(database, cache, Redis) and end with it. Records shared between requests and processes
(refresh locks, grace records of rotated refresh tokens) live in the Django cache, so a
shared cache (Redis, Memcached) makes refresh single-flight across workers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import BaseCache

from redtrust_middleware import StoreError
from redtrust_middleware._clock import Clock

__all__ = ["SESSION_KEY", "DjangoStore"]

#: The ``request.session`` entry holding this browser's sealed records.
SESSION_KEY = "_redtrust"
#: At most this many records per browser (one session and a few pending logins).
_MAX_RECORDS = 16
T = TypeVar("T")
Records = dict[str, list[Any]]  # key -> [base64 value, expires at]


def _guarded(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except StoreError:
        raise
    except Exception as error:  # any backend failure: database, Redis, Memcached
        raise StoreError(f"the Django {what} is unavailable ({type(error).__name__})") from None


async def _aguarded(what: str, call: Callable[[], Any]) -> Any:
    try:
        return await call()
    except StoreError:
        raise
    except Exception as error:
        raise StoreError(f"the Django {what} is unavailable ({type(error).__name__})") from None


class DjangoStore:
    """A per-request :class:`~redtrust_middleware.stores.Store` (sync and async).

    ``is_browser_record`` tells which keys belong in the session (the core's
    ``SessionFlows.is_browser_record``). The session's compare-and-set is local to this
    request, as every write to a Django session is; across processes, the cache lock and
    the grace records keep refresh single-flight.
    """

    __slots__ = ("_cache", "_clock", "_is_browser_record", "_session")

    def __init__(
        self,
        session: Any,
        cache: BaseCache,
        clock: Clock,
        is_browser_record: Callable[[str], bool],
    ) -> None:
        self._session = session
        self._cache = cache
        self._clock = clock
        self._is_browser_record = is_browser_record

    # -- the browser's records, in request.session ----------------------------------------

    def _live(self, records: Any) -> Records:
        now = self._clock()
        if not isinstance(records, dict):
            return {}
        return {
            k: v
            for k, v in records.items()
            if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int | float) and v[1] > now
        }

    def _value(self, records: Records, key: str) -> bytes | None:
        entry = records.get(key)
        if entry is None:
            return None
        try:
            return base64.b64decode(entry[0], validate=True)
        except (ValueError, TypeError):
            return None

    def _with(self, records: Records, key: str, value: bytes | None, ttl: float = 0) -> Records:
        records = dict(records)
        if value is None:
            records.pop(key, None)
        else:
            records[key] = [base64.b64encode(value).decode(), self._clock() + ttl]
            while len(records) > _MAX_RECORDS:
                records.pop(min(records, key=lambda k: records[k][1]))
        return records

    def _session_op(self, key: str, op: str, value: Any, expected: Any, ttl: float) -> Any:
        """One store operation on the records (pure over the dict): (result, new records)."""
        records = self._live(self._session.get(SESSION_KEY))
        result, changed = _apply(self, records, key, op, value, expected, ttl)
        if changed is not None:
            self._session[SESSION_KEY] = changed
        return result

    async def _asession_op(self, key: str, op: str, value: Any, expected: Any, ttl: float) -> Any:
        records = self._live(await self._session.aget(SESSION_KEY))
        result, changed = _apply(self, records, key, op, value, expected, ttl)
        if changed is not None:
            await self._session.aset(SESSION_KEY, changed)
        return result

    # A record taken from the session (a pending login) is taken once: every request holds
    # its own copy of the session, so the claim is made in the cache, where `add` is atomic.
    _CLAIM_SECONDS = 3600

    def _claim(self, key: str) -> bool:
        claim = f"{key}:taken"
        return bool(
            _guarded("cache", lambda: self._cache.add(claim, b"1", timeout=self._CLAIM_SECONDS))
        )

    async def _aclaim(self, key: str) -> bool:
        claim = f"{key}:taken"
        added = await _aguarded(
            "cache", lambda: self._cache.aadd(claim, b"1", timeout=self._CLAIM_SECONDS)
        )
        return bool(added)

    # -- the dispatch: session or cache ------------------------------------------------------

    def _run(self, op: str, key: str, value: Any = None, expected: Any = None, ttl: float = 0):  # type: ignore[no-untyped-def]
        if self._is_browser_record(key):
            if op == "take" and not self._claim(key):
                return None  # a concurrent request (another copy of this session) took it
            return _guarded("session", lambda: self._session_op(key, op, value, expected, ttl))
        return _guarded("cache", lambda: _cache_op(self._cache, op, key, value, expected, ttl))

    async def _arun(  # type: ignore[no-untyped-def]
        self, op: str, key: str, value: Any = None, expected: Any = None, ttl: float = 0
    ):
        if self._is_browser_record(key):
            if op == "take" and not await self._aclaim(key):
                return None
            return await _aguarded(
                "session", lambda: self._asession_op(key, op, value, expected, ttl)
            )
        return await _aguarded(
            "cache", lambda: _acache_op(self._cache, op, key, value, expected, ttl)
        )

    def get(self, key: str) -> bytes | None:
        return self._run("get", key)  # type: ignore[no-any-return]

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._run("set", key, value, ttl=ttl)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        return self._run("add", key, value, ttl=ttl)  # type: ignore[no-any-return]

    def take(self, key: str) -> bytes | None:
        return self._run("take", key)  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        self._run("delete", key)

    def delete_if(self, key: str, value: bytes) -> bool:
        return self._run("delete_if", key, expected=value)  # type: ignore[no-any-return]

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        return self._run("replace_if", key, value, expected, ttl)  # type: ignore[no-any-return]

    async def aget(self, key: str) -> bytes | None:
        return await self._arun("get", key)  # type: ignore[no-any-return]

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        await self._arun("set", key, value, ttl=ttl)

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        return await self._arun("add", key, value, ttl=ttl)  # type: ignore[no-any-return]

    async def atake(self, key: str) -> bytes | None:
        return await self._arun("take", key)  # type: ignore[no-any-return]

    async def adelete(self, key: str) -> None:
        await self._arun("delete", key)

    async def adelete_if(self, key: str, value: bytes) -> bool:
        return await self._arun("delete_if", key, expected=value)  # type: ignore[no-any-return]

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        return await self._arun("replace_if", key, value, expected, ttl)  # type: ignore[no-any-return]


def _apply(
    store: DjangoStore, records: Records, key: str, op: str, value: Any, expected: Any, ttl: float
) -> tuple[Any, Records | None]:
    """A store operation on this browser's records: its result and the records to save
    (None: unchanged)."""
    current = store._value(records, key)
    if op == "get":
        return current, None
    if op == "set":
        return None, store._with(records, key, value, ttl)
    if op == "add":
        return (
            (False, None) if current is not None else (True, store._with(records, key, value, ttl))
        )
    if op in ("take", "delete"):
        changed = store._with(records, key, None) if key in records else None
        return (current if op == "take" else None), changed
    if op == "delete_if":
        return (True, store._with(records, key, None)) if current == expected else (False, None)
    if op == "replace_if":
        if current != expected or current is None:
            return False, None
        return True, store._with(records, key, value, ttl)
    raise ValueError(op)  # pragma: no cover


def _cache_timeout(ttl: float) -> int:
    return max(1, round(ttl + 0.499))  # Django caches count whole seconds: never round to 0


def _cache_op(cache: BaseCache, op: str, key: str, value: Any, expected: Any, ttl: float) -> Any:
    """A store operation on a Django cache. Caches have no compare-and-set: ``take`` counts on
    ``delete`` reporting whether it deleted (atomic on Redis, Memcached and local memory)."""
    if op == "get":
        return cache.get(key)
    if op == "set":
        return cache.set(key, value, timeout=_cache_timeout(ttl))
    if op == "add":
        return cache.add(key, value, timeout=_cache_timeout(ttl))
    if op == "take":
        current = cache.get(key)
        return current if current is not None and cache.delete(key) else None
    if op == "delete":
        return cache.delete(key)
    if op == "delete_if":
        return cache.get(key) == expected and cache.delete(key)
    if op == "replace_if":
        if cache.get(key) != expected:
            return False
        if value == expected:  # a lease renewal: extend without rewriting
            return cache.touch(key, timeout=_cache_timeout(ttl))
        cache.set(key, value, timeout=_cache_timeout(ttl))
        return True
    raise ValueError(op)  # pragma: no cover


async def _acache_op(
    cache: BaseCache, op: str, key: str, value: Any, expected: Any, ttl: float
) -> Any:
    if op == "get":
        return await cache.aget(key)
    if op == "set":
        return await cache.aset(key, value, timeout=_cache_timeout(ttl))
    if op == "add":
        return await cache.aadd(key, value, timeout=_cache_timeout(ttl))
    if op == "take":
        current = await cache.aget(key)
        return current if current is not None and await cache.adelete(key) else None
    if op == "delete":
        return await cache.adelete(key)
    if op == "delete_if":
        return await cache.aget(key) == expected and await cache.adelete(key)
    if op == "replace_if":
        if await cache.aget(key) != expected:
            return False
        if value == expected:
            return await cache.atouch(key, timeout=_cache_timeout(ttl))
        await cache.aset(key, value, timeout=_cache_timeout(ttl))
        return True
    raise ValueError(op)  # pragma: no cover
