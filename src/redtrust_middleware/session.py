"""The token lifecycle of signed-in users: start and complete a login, load, refresh, end.

Each operation is written once, as a generator (:class:`SessionFlows`) that decides and
*yields effects* (read this key, refresh these tokens, wait a little) without doing any I/O.
:class:`SessionManager` and :class:`AsyncSessionManager` are thin drivers that perform the
effects with a sync or async store and client, and hold the in-process lock that makes
refresh single-flight. Across processes a store lock (``add`` with a lease, released with
``delete_if`` by its owner only) does the same; after either lock the record is read again
and refreshed only if still needed. A short grace record maps the old refresh token to the
new token set, so a straggler never presents a rotated refresh token.

Browsers only ever hold the session handle; the store keeps records under a hash of it,
sealed with AES-GCM (see :mod:`.stores.sealing`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeVar

import anyio

from ._clock import Clock, system_clock
from ._locks import AsyncKeyedLocks, KeyedLocks
from .client import AsyncClient, Client
from .config import RedtrustConfig
from .exceptions import (
    APIError,
    LoginExpiredError,
    NotAuthenticatedError,
    RefreshFailedError,
    StoreError,
    TokenError,
    UpstreamError,
)
from .flow import (
    Freshness,
    PendingLogin,
    build_login_url,
    freshness,
    is_handle,
    login_redirect_url,
    new_handle,
    parse_callback,
    pick_pending,
    validate_next,
)
from .stores import AsyncStore, Keyring, MemoryStore, Store
from .tokens import TokenSet, parse_expiration

__all__ = [
    "ActiveSession",
    "AsyncSessionManager",
    "LoginDone",
    "LoginStart",
    "SessionFlows",
    "SessionManager",
    "SessionRecord",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """What the store keeps for one signed-in user (sealed)."""

    tokens: TokenSet
    created_at: float
    seen_at: float

    def to_json(self) -> bytes:
        """Serialise for sealing."""
        t = self.tokens
        return json.dumps(
            {
                "a": t.access_token,
                "r": t.refresh_token,
                "e": t.expires_at.isoformat(),
                "c": dict(t.claims),
                "created": self.created_at,
                "seen": self.seen_at,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SessionRecord | None:
        """Read a record; None when it is not a well-formed one."""
        try:
            data = json.loads(raw)
            tokens = TokenSet(
                access_token=data["a"],
                refresh_token=data["r"],
                expires_at=parse_expiration(data["e"]),
                claims=data["c"],
            )
            return cls(
                tokens=tokens, created_at=float(data["created"]), seen_at=float(data["seen"])
            )
        except (ValueError, TypeError, KeyError, TokenError):
            return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginStart:
    """Where to send the browser, and the new pending-login cookie list (oldest first)."""

    url: str = field(repr=False)
    browser_nonces: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginDone:
    """A completed login: the new session handle, where to go, the remaining nonces."""

    handle: str = field(repr=False)
    next_url: str
    browser_nonces: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveSession:
    """A signed-in user with a fresh access token."""

    handle: str = field(repr=False)
    tokens: TokenSet
    created_at: float
    #: True when the tokens were refreshed while serving this request.
    refreshed: bool = False


# -- effects: what a flow asks its driver to do ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Get:
    key: str


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes = field(repr=False)
    ttl: float


@dataclass(frozen=True, slots=True)
class Add:
    key: str
    value: bytes = field(repr=False)
    ttl: float


@dataclass(frozen=True, slots=True)
class Take:
    key: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class DeleteIf:
    key: str
    value: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Exchange:
    temp_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Refresh:
    tokens: TokenSet


@dataclass(frozen=True, slots=True)
class Logout:
    tokens: TokenSet


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect: TypeAlias = Get | Put | Add | Take | Delete | DeleteIf | Exchange | Refresh | Logout | Sleep
Flow: TypeAlias = Generator[Effect, Any, T]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshNeeded:
    """Returned by :meth:`SessionFlows.load` when the driver must lock and refresh."""

    handle: str = field(repr=False)
    key: str
    record: SessionRecord


# -- the flows --------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionFlows:
    """Every session operation as an effect-yielding generator; shared by both drivers.

    Holds no per-request state: the only mutable members are the in-process grace map and
    refresh cool-downs, keyed by hashes and bounded.
    """

    #: How long a grace record (old refresh token -> new token set) is kept.
    GRACE_SECONDS = 60.0
    #: After a transient refresh failure, wait this long before trying again.
    COOLDOWN_SECONDS = 5.0
    _MAX_MEMO = 10_000

    def __init__(
        self, config: RedtrustConfig, keyring: Keyring, clock: Clock, *, prefix: str = "redtrust"
    ) -> None:
        self.config = config
        self.keyring = keyring
        self.clock = clock
        self.prefix = prefix
        self._memo_lock = threading.Lock()
        self._grace: dict[str, tuple[float, TokenSet]] = {}
        self._cooldown: dict[str, float] = {}
        # The lease outlives the slowest refresh: every attempt bounded by the timeout.
        self.lock_lease = config.timeout * (config.connect_retries + 2) + 5.0

    # keys: hashes, so a store dump reveals no handle, nonce or refresh token
    def session_key(self, handle: str) -> str:
        return f"{self.prefix}:session:{_digest(handle)}"

    def pending_key(self, nonce: str) -> str:
        return f"{self.prefix}:pending:{_digest(nonce)}"

    def lock_key(self, handle: str) -> str:
        return f"{self.prefix}:lock:{_digest(handle)}"

    def grace_key(self, refresh_token: str) -> str:
        return f"{self.prefix}:grace:{_digest(refresh_token)}"

    # sealing
    def _seal(self, key: str, raw: bytes) -> bytes:
        return self.keyring.seal(raw, context=key)

    def _open_record(self, key: str, blob: bytes | None) -> SessionRecord | None:
        raw = None if blob is None else self.keyring.open(blob, context=key)
        return None if raw is None else SessionRecord.from_json(raw)

    def _alive(self, record: SessionRecord, now: float) -> bool:
        return (
            now - record.seen_at < self.config.idle_timeout
            and now - record.created_at < self.config.absolute_timeout
        )

    def _ttl(self, record: SessionRecord, now: float) -> float:
        left = self.config.absolute_timeout - (now - record.created_at)
        return max(1.0, min(self.config.idle_timeout, left))

    def _put_record(self, key: str, record: SessionRecord, now: float) -> Put:
        return Put(key, self._seal(key, record.to_json()), self._ttl(record, now))

    # in-process memo of grace records and cool-downs (bounded)
    def _remember(self, table: dict[str, Any], key: str, value: Any) -> None:
        with self._memo_lock:
            if len(table) >= self._MAX_MEMO:
                now = self.clock()
                for stale in [
                    k for k, v in table.items() if (v[0] if isinstance(v, tuple) else v) <= now
                ]:
                    del table[stale]
                if len(table) >= self._MAX_MEMO:
                    table.pop(next(iter(table)))
            table[key] = value

    def _graced(self, refresh_token: str | None, now: float) -> TokenSet | None:
        if refresh_token is None:
            return None
        entry = self._grace.get(_digest(refresh_token))
        return entry[1] if entry is not None and entry[0] > now else None

    # -- login ----------------------------------------------------------------------------

    def begin_login(
        self, *, next_url: str | None, callback_url: str, browser_nonces: Sequence[str]
    ) -> Flow[LoginStart]:
        """Record a pending login and build the signed redirect to Redtrust."""
        now = self.clock()
        pending = PendingLogin(
            nonce=new_handle(), next_url=validate_next(next_url, self.config), created_at=now
        )
        key = self.pending_key(pending.nonce)
        yield Put(key, self._seal(key, pending.to_json()), self.config.pending_login_ttl)
        redirect = login_redirect_url(self.config, callback_url, pending.nonce)
        url = build_login_url(self.config, redirect_url=redirect, now=now)
        nonces = (*browser_nonces, pending.nonce)[-self.config.max_pending_logins :]
        return LoginStart(url=url, browser_nonces=nonces)

    def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> Flow[LoginDone]:
        """Validate the callback, take its pending login once, exchange ``tkn``, open a session.

        Raises:
            InvalidCallbackError: malformed callback (before any store or network work).
            LoginExpiredError: no live pending login for this browser (start again).
            UpstreamError: Redtrust failed; StoreError: the session could not be saved.
        """
        params = parse_callback(query, expect_nonce=self.config.nonce_in_redirect)
        nonce = pick_pending(params, browser_nonces)
        key = self.pending_key(nonce)
        blob = yield Take(key)  # atomic: a replayed or concurrent callback finds nothing
        raw = None if blob is None else self.keyring.open(blob, context=key)
        pending = None if raw is None else PendingLogin.from_json(nonce, raw)
        now = self.clock()
        if pending is None or now - pending.created_at > self.config.pending_login_ttl:
            raise LoginExpiredError(
                "this sign-in expired or was already used", code="LOGIN_EXPIRED"
            )
        try:
            tokens: TokenSet = yield Exchange(params.temp_token)
        except APIError as error:
            if error.is_transient:
                raise
            raise LoginExpiredError(
                "Redtrust did not accept this sign-in", code="EXCHANGE_REJECTED"
            ) from None
        handle = new_handle()
        now = self.clock()
        record = SessionRecord(tokens=tokens, created_at=now, seen_at=now)
        yield self._put_record(self.session_key(handle), record, now)
        if previous_handle and is_handle(previous_handle):
            yield Delete(self.session_key(previous_handle))
        remaining = tuple(n for n in browser_nonces if n != nonce)
        return LoginDone(
            handle=handle,
            next_url=validate_next(pending.next_url, self.config),
            browser_nonces=remaining,
        )

    # -- every request ----------------------------------------------------------------------

    def load(self, handle: str | None) -> Flow[ActiveSession | RefreshNeeded | None]:
        """One store read; the session, None, or :class:`RefreshNeeded` for the driver."""
        if not handle or not is_handle(handle):
            return None
        key = self.session_key(handle)
        record = self._open_record(key, (yield Get(key)))
        now = self.clock()
        if record is None or not self._alive(record, now):
            return None
        state = freshness(record.tokens, now, self.config.refresh_leeway)
        if state is Freshness.FRESH:
            if now - record.seen_at > self.config.idle_timeout / 10:
                # Sliding idle timeout, written rarely: most requests make no write at all.
                touched = replace(record, seen_at=now)
                try:
                    yield self._put_record(key, touched, now)
                except StoreError:
                    logger.warning("redtrust: could not extend session idle time")
            return ActiveSession(handle=handle, tokens=record.tokens, created_at=record.created_at)
        graced = self._graced(record.tokens.refresh_token, now)
        if graced is not None:
            # Refreshed here already but not saved (store write failed): serve, save now.
            saved = replace(record, tokens=graced, seen_at=now)
            with contextlib.suppress(StoreError):
                yield self._put_record(key, saved, now)
            return ActiveSession(
                handle=handle, tokens=graced, created_at=record.created_at, refreshed=True
            )
        return RefreshNeeded(handle=handle, key=key, record=record)

    def _still_needed(self, key: str, now: float) -> Flow[SessionRecord | TokenSet]:
        """Re-read: a record that no longer needs refresh, else the tokens to refresh."""
        record = self._open_record(key, (yield Get(key)))
        if record is None or not self._alive(record, now):
            raise NotAuthenticatedError("the session ended")
        if freshness(record.tokens, now, self.config.refresh_leeway) is Freshness.FRESH:
            return record
        rotated = record.tokens.refresh_token
        graced = self._graced(rotated, now)
        if graced is None and rotated is not None:
            grace_key = self.grace_key(rotated)
            blob = yield Get(grace_key)
            raw = None if blob is None else self.keyring.open(blob, context=grace_key)
            graced_record = None if raw is None else SessionRecord.from_json(raw)
            graced = None if graced_record is None else graced_record.tokens
        if graced is not None:
            return replace(record, tokens=graced)
        return record.tokens

    def refresh(self, need: RefreshNeeded) -> Flow[ActiveSession]:
        """Refresh under the store lock (the driver already holds the in-process lock).

        Raises:
            NotAuthenticatedError: the refresh token was rejected; the session is deleted.
            RefreshFailedError: a transient failure and the access token is already expired.
        """
        key, handle = need.key, need.handle
        now = self.clock()
        result = yield from self._still_needed(key, now)
        if isinstance(result, SessionRecord):
            return self._active(handle, result, refreshed=True)
        until = self._cooldown.get(key, 0.0)
        if until > now:  # a refresh just failed transiently: do not hammer Redtrust
            return self._fallback(need, until - now)
        lock_key, owner = self.lock_key(handle), secrets.token_bytes(16)
        refreshed_elsewhere = yield from self._acquire(key, lock_key, owner)
        if refreshed_elsewhere is not None:
            return self._active(handle, refreshed_elsewhere, refreshed=True)
        try:
            outcome = yield from self._refresh_holding_lock(need)
        except GeneratorExit:
            raise  # cancelled: the lease expires by itself
        except BaseException:
            yield from self._release(lock_key, owner)
            raise
        yield from self._release(lock_key, owner)
        return outcome

    def _refresh_holding_lock(self, need: RefreshNeeded) -> Flow[ActiveSession]:
        result = yield from self._still_needed(need.key, self.clock())
        if isinstance(result, SessionRecord):
            return self._active(need.handle, result, refreshed=True)
        return (yield from self._refresh_locked(need, need.key, result))

    def _release(self, lock_key: str, owner: bytes) -> Flow[None]:
        try:
            yield DeleteIf(lock_key, owner)
        except StoreError:
            logger.warning("redtrust: could not release a refresh lock (it will expire)")

    def _acquire(self, key: str, lock_key: str, owner: bytes) -> Flow[SessionRecord | None]:
        """Take the store lock, or return the record another process refreshed meanwhile."""
        deadline = self.clock() + self.lock_lease
        delay = 0.02
        while not (yield Add(lock_key, owner, self.lock_lease)):
            if self.clock() > deadline:
                raise RefreshFailedError("the session is being refreshed elsewhere")
            yield Sleep(delay)
            delay = min(delay * 2, 0.25)
            result = yield from self._still_needed(key, self.clock())
            if isinstance(result, SessionRecord):
                return result
        return None

    def _refresh_locked(
        self, need: RefreshNeeded, key: str, tokens: TokenSet
    ) -> Flow[ActiveSession]:
        try:
            new: TokenSet = yield Refresh(tokens)
        except APIError as error:
            if not error.is_transient:
                logger.info("redtrust: refresh rejected (%s); ending the session", error.code)
                yield Delete(key)
                raise NotAuthenticatedError("the session ended: sign in again") from None
            return self._transient(need, key)
        except (UpstreamError, TokenError) as error:
            logger.warning("redtrust: refresh failed (%s)", type(error).__name__)
            return self._transient(need, key)
        now = self.clock()
        if tokens.refresh_token is not None:
            grace_key = self.grace_key(tokens.refresh_token)
            self._remember(
                self._grace, _digest(tokens.refresh_token), (now + self.GRACE_SECONDS, new)
            )
            graced = SessionRecord(tokens=new, created_at=now, seen_at=now)
            with contextlib.suppress(StoreError):
                yield Put(grace_key, self._seal(grace_key, graced.to_json()), self.GRACE_SECONDS)
        record = replace(need.record, tokens=new, seen_at=now)
        try:
            yield self._put_record(key, record, now)
        except StoreError:
            # Served from the grace record until a later request manages to save it.
            logger.warning("redtrust: refreshed tokens not saved; will retry on next request")
        logger.debug("redtrust: session refreshed")
        return self._active(need.handle, record, refreshed=True)

    def _transient(self, need: RefreshNeeded, key: str) -> ActiveSession:
        self._remember(self._cooldown, key, self.clock() + self.COOLDOWN_SECONDS)
        return self._fallback(need, self.COOLDOWN_SECONDS)

    def _fallback(self, need: RefreshNeeded, wait: float) -> ActiveSession:
        """Serve the current token while it is valid; otherwise ask the user to retry."""
        if need.record.tokens.is_expired(self.clock()):
            raise RefreshFailedError(
                "Redtrust is unavailable; try again shortly", retry_after=max(1, round(wait))
            )
        return self._active(need.handle, need.record, refreshed=False)

    @staticmethod
    def _active(handle: str, record: SessionRecord, *, refreshed: bool) -> ActiveSession:
        return ActiveSession(
            handle=handle, tokens=record.tokens, created_at=record.created_at, refreshed=refreshed
        )

    # -- logout -----------------------------------------------------------------------------

    def logout(self, handle: str | None) -> Flow[bool]:
        """End the session: delete it here, and remotely when the profile has a logout."""
        if not handle or not is_handle(handle):
            return False
        key = self.session_key(handle)
        record = self._open_record(key, (yield Take(key)))
        if record is None:
            return False
        if self.config.profile.logout is not None:
            try:
                yield Logout(record.tokens)
            except UpstreamError as error:
                logger.warning(
                    "redtrust: remote logout failed (%s); ended locally", type(error).__name__
                )
        return True


# -- drivers ----------------------------------------------------------------------------------


def _keyring(config: RedtrustConfig, keyring: Keyring | None) -> Keyring:
    if keyring is not None:
        return keyring
    if config.encryption_keys:
        return Keyring(config.encryption_keys)
    logger.info("redtrust: no encryption_keys set; sessions end when the process restarts")
    return Keyring.ephemeral()


class SessionManager:
    """Synchronous driver of :class:`SessionFlows` (WSGI, Django under WSGI, scripts).

    One per application: it owns the store, the client and the in-process refresh locks.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        store: Store | None = None,
        client: Client | None = None,
        keyring: Keyring | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.config = config
        self.store: Store = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else Client(config, clock=clock)
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self._locks = KeyedLocks()

    def _perform(self, effect: Effect) -> Any:
        store = self.store
        match effect:
            case Get(key):
                return store.get(key)
            case Put(key, value, ttl):
                return store.set(key, value, ttl=ttl)
            case Add(key, value, ttl):
                return store.add(key, value, ttl=ttl)
            case Take(key):
                return store.take(key)
            case Delete(key):
                return store.delete(key)
            case DeleteIf(key, value):
                return store.delete_if(key, value)
            case Exchange(temp_token):
                return self.client.exchange(temp_token)
            case Refresh(tokens):
                return self.client.refresh(tokens)
            case Logout(tokens):
                return self.client.logout(tokens)
            case Sleep(seconds):
                return time.sleep(seconds)
        raise TypeError(effect)  # pragma: no cover

    def _run(self, flow: Flow[T]) -> T:
        try:
            effect = next(flow)
            while True:
                try:
                    result = self._perform(effect)
                except Exception as error:
                    effect = flow.throw(error)
                else:
                    effect = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def begin_login(
        self, *, next_url: str | None, callback_url: str, browser_nonces: Sequence[str] = ()
    ) -> LoginStart:
        """Start a login: see :meth:`SessionFlows.begin_login`."""
        return self._run(
            self.flows.begin_login(
                next_url=next_url, callback_url=callback_url, browser_nonces=browser_nonces
            )
        )

    def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> LoginDone:
        """Complete a login from its callback: see :meth:`SessionFlows.complete_login`."""
        return self._run(
            self.flows.complete_login(
                query=query, browser_nonces=browser_nonces, previous_handle=previous_handle
            )
        )

    def get(self, handle: str | None) -> ActiveSession | None:
        """The signed-in session with a fresh token, or None (refreshing single-flight)."""
        loaded = self._run(self.flows.load(handle))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        with self._locks.hold(loaded.key):
            return self._run(self.flows.refresh(loaded))

    def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        return self._run(self.flows.logout(handle))

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()


class AsyncSessionManager:
    """Asynchronous driver of :class:`SessionFlows` (ASGI, Starlette, FastAPI, Django async)."""

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        store: AsyncStore | None = None,
        client: AsyncClient | None = None,
        keyring: Keyring | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.config = config
        self.store: AsyncStore = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else AsyncClient(config, clock=clock)
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self._locks = AsyncKeyedLocks()

    async def _perform(self, effect: Effect) -> Any:
        store = self.store
        match effect:
            case Get(key):
                return await store.aget(key)
            case Put(key, value, ttl):
                return await store.aset(key, value, ttl=ttl)
            case Add(key, value, ttl):
                return await store.aadd(key, value, ttl=ttl)
            case Take(key):
                return await store.atake(key)
            case Delete(key):
                return await store.adelete(key)
            case DeleteIf(key, value):
                return await store.adelete_if(key, value)
            case Exchange(temp_token):
                return await self.client.exchange(temp_token)
            case Refresh(tokens):
                return await self.client.refresh(tokens)
            case Logout(tokens):
                return await self.client.logout(tokens)
            case Sleep(seconds):
                return await anyio.sleep(seconds)
        raise TypeError(effect)  # pragma: no cover

    async def _run(self, flow: Flow[T]) -> T:
        try:
            effect = next(flow)
            while True:
                try:
                    result = await self._perform(effect)
                except Exception as error:
                    effect = flow.throw(error)
                else:
                    effect = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def begin_login(
        self, *, next_url: str | None, callback_url: str, browser_nonces: Sequence[str] = ()
    ) -> LoginStart:
        """Start a login: see :meth:`SessionFlows.begin_login`."""
        return await self._run(
            self.flows.begin_login(
                next_url=next_url, callback_url=callback_url, browser_nonces=browser_nonces
            )
        )

    async def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> LoginDone:
        """Complete a login from its callback: see :meth:`SessionFlows.complete_login`."""
        return await self._run(
            self.flows.complete_login(
                query=query, browser_nonces=browser_nonces, previous_handle=previous_handle
            )
        )

    async def get(self, handle: str | None) -> ActiveSession | None:
        """The signed-in session with a fresh token, or None (refreshing single-flight)."""
        loaded = await self._run(self.flows.load(handle))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        async with self._locks.hold(loaded.key):
            return await self._run(self.flows.refresh(loaded))

    async def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        return await self._run(self.flows.logout(handle))

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client.aclose()
