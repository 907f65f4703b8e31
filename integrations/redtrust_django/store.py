"""The store a Django request runs over: the site's session engine plus a Django cache.

A browser's own records (its signed-in session, its pending logins) live in
``request.session`` (already sealed by the core), so they follow the site's session engine
(database, cache, Redis) and end with it. Records shared between requests and processes
(refresh locks, grace records of rotated refresh tokens) live in the Django cache, so a
shared cache (Redis, Memcached) makes refresh single-flight across workers.

A Django session is saved whole, from each request's own copy, and the last save wins. So
a request changes its session only for what it did itself, and each version of a record is
replaced once: the replacement (a refresh, an idle-time touch) first claims the version it
starts from in the cache, and a request that finds it claimed treats it as replaced by the
request that claimed it, and writes nothing (the grace records carry a refresh meanwhile).
A request that saves its session with records it did not itself create or remove (it
replaced one, or only saves the app's data) first re-reads them and keeps the stored ones if
they changed since it read them, so it never brings back an old refresh token.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver

from redtrust_middleware import StoreError
from redtrust_middleware._clock import Clock
from redtrust_middleware.logevents import log
from redtrust_middleware.stores import NOT_LOCAL, LocalValue
from redtrust_middleware.stores.operations import (
    Add,
    Conditional,
    Delete,
    DeleteIf,
    Get,
    Put,
    Read,
    ReplaceIf,
    Result,
    StoreOperation,
    Take,
    Write,
)

from ._cache import acache_op, cache_op
from ._records import Records, apply, live, read

__all__ = ["NOT_LOADED", "SESSION_KEY", "DjangoStore", "loaded_records"]

#: The ``request.session`` entry holding this browser's sealed records.
SESSION_KEY = "_redtrust"
#: How long the right to replace one version of a record stays with the request that
#: claimed it: longer than requests that read that version take to save, shorter than the
#: grace records (60 s), so a refresh whose save was lost (its client hung up, the database
#: refused the write) is saved by a later request while the grace record has its tokens.
_REPLACE_CLAIM_SECONDS = 10
#: ``DjangoStore._loaded`` until the request first reads its records.
_UNREAD = object()
#: :func:`loaded_records` of a session the engine has not loaded yet.
NOT_LOADED = object()
logger = logging.getLogger(__name__)
T = TypeVar("T")


def loaded_records(session: SessionBase) -> object:
    """The browser's records in ``session`` as they are, with no engine access, once the
    engine has loaded it (which marked it accessed); else :data:`NOT_LOADED`."""
    loaded = getattr(session, "_session_cache", None)  # Django's loaded-session dict
    return NOT_LOADED if loaded is None else loaded.get(SESSION_KEY)


def _unavailable(error: Exception, what: str = "session") -> StoreError:
    return StoreError(f"the Django {what} is unavailable ({type(error).__name__})")


def _guarded(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except StoreError:
        raise
    except Exception as error:  # any backend failure: database, Redis, Memcached
        raise _unavailable(error, what) from None


async def _aguarded(what: str, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except StoreError:
        raise
    except Exception as error:
        raise _unavailable(error, what) from None


class DjangoStore:
    """A per-request :class:`~redtrust_middleware.stores.Store` (sync and async).

    ``cache`` is a Django cache or the alias of one in ``CACHES``, looked up on the first
    operation that needs it (most requests only read their session). ``is_browser_record``
    tells which keys belong in the session (the core's ``SessionFlows.is_browser_record``).
    One store serves one request (see the module docstring for when it writes); call
    :meth:`before_save` once the view has run.
    """

    __slots__ = (
        "_cache_or_alias",
        "_claims",
        "_clock",
        "_is_browser_record",
        "_loaded",
        "_own_change",
        "_session",
    )

    def __init__(
        self,
        session: SessionBase,
        cache: BaseCache | str,
        clock: Clock,
        is_browser_record: Callable[[str], bool],
    ) -> None:
        self._session = session
        self._cache_or_alias = cache
        self._clock = clock
        self._is_browser_record = is_browser_record
        self._claims: list[str] = []  # the versions this request replaces
        self._loaded: object = _UNREAD
        self._own_change = False  # a record created or removed: a sign-in, a sign-out...

    @property
    def session(self) -> SessionBase:
        """The Django session this store keeps the browser's records in."""
        return self._session

    @property
    def _cache(self) -> BaseCache:
        """The cache, looked up in ``caches`` on first use (per thread or task, as Django
        keeps its cache connections)."""
        cache = self._cache_or_alias
        if isinstance(cache, str):
            cache = self._cache_or_alias = caches[cache]
        return cache

    def _decide(self, raw: object, op: StoreOperation) -> tuple[Result, Records | None, str | None]:
        """One store operation on the records (pure over the dict): its result, the records
        to save (None: unchanged) and, for a replacement, the claim to win first."""
        if self._loaded is _UNREAD:
            self._loaded = raw
        now = self._clock()
        if type(op) is Get:
            return read(raw, op.key, now), None, None
        result, changed = apply(live(raw, now), op, now)
        if changed is None or not isinstance(op, ReplaceIf):
            self._own_change = self._own_change or changed is not None
            return result, changed, None
        return result, changed, f"{op.key}:from:{hashlib.sha256(op.expected).hexdigest()[:32]}"

    def _session_op(self, op: StoreOperation) -> Result:
        result, changed, claim = self._decide(self._session.get(SESSION_KEY), op)
        if claim is not None:
            if not self._claim(claim, _REPLACE_CLAIM_SECONDS):
                return True  # replaced by the concurrent request that claimed it first
            self._claims.append(claim)
        if changed is not None:
            self._session[SESSION_KEY] = changed
        return result

    async def _asession_op(self, op: StoreOperation) -> Result:
        result, changed, claim = self._decide(await self._session.aget(SESSION_KEY), op)
        if claim is not None:
            if not await self._aclaim(claim, _REPLACE_CLAIM_SECONDS):
                return True
            self._claims.append(claim)
        if changed is not None:
            await self._session.aset(SESSION_KEY, changed)
        return result

    # A record taken from the session (a pending login) is taken once: every request holds
    # its own copy of the session, so the claim is made in the cache, where `add` is atomic.
    _TAKE_CLAIM_SECONDS = 3600

    def _claim(self, claim: str, seconds: int) -> bool:
        """Claim ``claim`` in the cache (atomic ``add``); True when this request won it."""
        return bool(_guarded("cache", lambda: self._cache.add(claim, b"1", timeout=seconds)))

    async def _aclaim(self, claim: str, seconds: int) -> bool:
        added = await _aguarded("cache", lambda: self._cache.aadd(claim, b"1", timeout=seconds))
        return bool(added)

    # -- before SessionMiddleware saves ------------------------------------------------------

    def _after_view(self, status: int) -> str:
        """What to do once the view has answered, before SessionMiddleware saves:

        - ``"release"``: a 5xx, which SessionMiddleware does not save; the versions this
          request claimed are released, so a later request saves (from the grace record) the
          refresh this one made;
        - ``"reread"``: the session is saved with records that this request read and left
          alone or only replaced (a refresh, a touch), and the stored ones may be newer;
        - ``""``: nothing.
        """
        session = self._session
        if status >= 500:
            return "release" if self._claims else ""
        saving = self.saves(session)
        unchanged = not self._own_change and self._loaded is not _UNREAD
        return "reread" if saving and unchanged and session.session_key is not None else ""

    def _keep_stored(self, stored: object) -> None:
        if stored == self._loaded:
            return  # nothing changed meanwhile: this request's own copy is current
        if stored is None:
            self._session.pop(SESSION_KEY, None)
        else:
            self._session[SESSION_KEY] = stored

    def before_save(self, status: int) -> None:
        """Once the view answered ``status``: see :meth:`_after_view` (a cache write or a
        session read, only then)."""
        todo = self._after_view(status)
        if not todo:
            return  # most requests
        try:
            if todo == "release":
                self._cache.delete_many(self._claims)
            elif todo == "reread":
                self._keep_stored(type(self._session)(self._session.session_key).get(SESSION_KEY))
        except Exception as error:  # the engine or cache is down: the request goes on
            _not_done(todo, error)

    async def abefore_save(self, status: int) -> None:
        """:meth:`before_save` for async requests."""
        todo = self._after_view(status)
        if not todo:
            return
        try:
            if todo == "release":
                await self._cache.adelete_many(self._claims)
            elif todo == "reread":
                fresh = type(self._session)(self._session.session_key)
                self._keep_stored(await fresh.aget(SESSION_KEY))
        except Exception as error:
            _not_done(todo, error)

    # -- the dispatch: session or cache ------------------------------------------------------

    @overload
    def _run(self, op: Read) -> bytes | None: ...
    @overload
    def _run(self, op: Write) -> None: ...
    @overload
    def _run(self, op: Conditional) -> bool: ...
    def _run(self, op: StoreOperation) -> Result:
        if not self._is_browser_record(op.key):
            return _guarded("cache", lambda: cache_op(self._cache, op))
        if isinstance(op, Take) and not self._claim(f"{op.key}:taken", self._TAKE_CLAIM_SECONDS):
            return None  # a concurrent request (another copy of this session) took it
        return _guarded("session", lambda: self._session_op(op))

    @overload
    async def _arun(self, op: Read) -> bytes | None: ...
    @overload
    async def _arun(self, op: Write) -> None: ...
    @overload
    async def _arun(self, op: Conditional) -> bool: ...
    async def _arun(self, op: StoreOperation) -> Result:
        if not self._is_browser_record(op.key):
            return await _aguarded("cache", lambda: acache_op(self._cache, op))
        if isinstance(op, Take) and not await self._aclaim(
            f"{op.key}:taken", self._TAKE_CLAIM_SECONDS
        ):
            return None
        return await _aguarded("session", lambda: self._asession_op(op))

    def get(self, key: str) -> bytes | None:
        if not self._is_browser_record(key):
            return self._run(Get(key))
        # Every signed-in request: `_run(Get(key))` without the indirections (one read of
        # the session, one entry looked at, nothing copied).
        try:
            raw = self._session.get(SESSION_KEY)
        except Exception as error:
            raise _unavailable(error) from None
        if self._loaded is _UNREAD:
            self._loaded = raw
        return read(raw, key, self._clock())

    def read_local(self, key: str) -> LocalValue:
        """:meth:`get` with no I/O (:class:`~redtrust_middleware.stores.LocalReads`), sync or
        async: a browser record of a session already loaded (``SessionMiddleware``'s read of
        the handle loaded it), else :data:`~redtrust_middleware.stores.NOT_LOCAL`."""
        raw = loaded_records(self._session)
        if raw is NOT_LOADED or not self._is_browser_record(key):
            return NOT_LOCAL
        if self._loaded is _UNREAD:
            self._loaded = raw
        return read(raw, key, self._clock())

    def read_before(self, raw: object) -> None:
        """What this request read of its records before this store was built (with
        :func:`loaded_records`): they count as this store's first read."""
        if self._loaded is _UNREAD:
            self._loaded = raw

    @staticmethod
    def saves(session: SessionBase) -> bool:
        """Whether ``SessionMiddleware`` is going to save ``session`` (before it does)."""
        return bool(session.modified or _saves_every_request())

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._run(Put(key, value, ttl))

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        return self._run(Add(key, value, ttl))

    def take(self, key: str) -> bytes | None:
        return self._run(Take(key))

    def delete(self, key: str) -> None:
        self._run(Delete(key))

    def delete_if(self, key: str, value: bytes) -> bool:
        return self._run(DeleteIf(key, value))

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        return self._run(ReplaceIf(key, expected, value, ttl))

    async def aget(self, key: str) -> bytes | None:
        if not self._is_browser_record(key):
            return await self._arun(Get(key))
        try:
            raw = await self._session.aget(SESSION_KEY)
        except Exception as error:
            raise _unavailable(error) from None
        if self._loaded is _UNREAD:
            self._loaded = raw
        return read(raw, key, self._clock())

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        await self._arun(Put(key, value, ttl))

    async def aadd(self, key: str, value: bytes, *, ttl: float) -> bool:
        return await self._arun(Add(key, value, ttl))

    async def atake(self, key: str) -> bytes | None:
        return await self._arun(Take(key))

    async def adelete(self, key: str) -> None:
        await self._arun(Delete(key))

    async def adelete_if(self, key: str, value: bytes) -> bool:
        return await self._arun(DeleteIf(key, value))

    async def areplace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        return await self._arun(ReplaceIf(key, expected, value, ttl))


def _not_done(todo: str, error: Exception) -> None:
    """Log that the step ``todo`` after a view failed (the request goes on)."""
    kind = type(error).__name__
    log(
        logger,
        "redtrust.store.failed",
        "redtrust: could not %s (%s)",
        todo,
        kind,
        operation=todo,
        error_type=kind,
    )


@functools.cache
def _saves_every_request() -> bool:
    """``SESSION_SAVE_EVERY_REQUEST``, read once (a settings lookup is a Python
    ``__getattribute__`` away, and this is asked on every request): forgotten when a test
    overrides it."""
    return bool(settings.SESSION_SAVE_EVERY_REQUEST)


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == "SESSION_SAVE_EVERY_REQUEST":
        _saves_every_request.cache_clear()
