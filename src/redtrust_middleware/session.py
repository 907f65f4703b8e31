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

import asyncio
import copy
import enum
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeVar

import anyio

from ._clock import Clock, system_clock
from ._locks import AsyncKeyedLocks, KeyedLocks
from .client import AsyncClient, Client
from .config import RedtrustConfig
from .exceptions import (
    APIError,
    ConfigurationError,
    LoginExpiredError,
    ProtocolError,
    RefreshFailedError,
    StoreError,
    TokenError,
    TransportError,
    UpstreamError,
)
from .login import (
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
class ReplaceIf:
    key: str
    expected: bytes = field(repr=False)
    value: bytes = field(repr=False)
    ttl: float


@dataclass(frozen=True, slots=True)
class Exchange:
    temp_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Refresh:
    tokens: TokenSet
    #: The store lock held meanwhile; the driver renews its lease while the call runs.
    lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    owner: bytes = field(repr=False)
    seconds: float


@dataclass(frozen=True, slots=True)
class Logout:
    tokens: TokenSet


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect: TypeAlias = (
    Get | Put | Add | Take | Delete | DeleteIf | ReplaceIf | Exchange | Refresh | Logout | Sleep
)
Flow: TypeAlias = Generator[Effect, Any, T]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshNeeded:
    """Returned by :meth:`SessionFlows.load` when the driver must lock and refresh."""

    handle: str = field(repr=False)
    key: str
    #: The session as read, served instead when a refresh outlasts ``timeout`` while its
    #: access token is still valid (see :meth:`SessionFlows.serve_meanwhile`).
    current: ActiveSession | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Touch:
    """Returned by :meth:`SessionFlows.loaded`: serve ``active`` after extending idle time."""

    active: ActiveSession
    key: str
    blob: bytes = field(repr=False)
    record: SessionRecord


Loaded: TypeAlias = "ActiveSession | Touch | RefreshNeeded | None"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Refreshable:
    """A record read from the store that still needs a refresh, with the bytes read."""

    blob: bytes = field(repr=False)
    record: SessionRecord


Outcome: TypeAlias = "ActiveSession | None"


# -- the flows --------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class _Failure(enum.Enum):
    """What a failed refresh means for the session."""

    REJECTED = "rejected"  # Redtrust refused the refresh token: the session is over
    TRANSIENT = "transient"  # Redtrust certainly did not rotate: keep it, try again later
    UNKNOWN = "unknown"  # Redtrust may have rotated (the request reached it, no usable
    # answer came back): never present that refresh token again


def classify_refresh_failure(error: Exception) -> _Failure:
    """Sort a refresh failure: rejected, transient, or an unknown outcome.

    Only answers that prove Redtrust did not rotate are transient: a request that never left
    this machine, and a well-formed error envelope or an unreadable error status (5xx, 429).
    A timeout or a connection lost after the request was sent, and a "success" that cannot be
    read, leave the refresh token possibly spent (THREATS 35, F19): a real Redtrust that
    detects reuse would see a second presentation as a replay and end the user's session.
    """
    if isinstance(error, APIError):
        if error.status is not None and error.status < 300:
            return _Failure.UNKNOWN  # "success" with an error envelope: it may have rotated
        return _Failure.REJECTED if error.is_rejection else _Failure.TRANSIENT
    if isinstance(error, TransportError):
        return _Failure.UNKNOWN if error.reached_server else _Failure.TRANSIENT
    if isinstance(error, ProtocolError):
        # A 2xx that we could not read may carry a rotation; an error status carries none.
        if error.status is not None and error.status < 300:
            return _Failure.UNKNOWN
        return _Failure.TRANSIENT
    return _Failure.UNKNOWN  # TokenError: the answer arrived, the tokens in it are unusable


class SessionFlows:
    """Every session operation as an effect-yielding generator; shared by both drivers.

    Holds no per-request state: the only mutable members are the in-process grace map and
    refresh cool-downs, keyed by hashes and bounded.

    Every write of a record read earlier is a compare-and-set (``ReplaceIf``) against the
    bytes read, so a slow request never overwrites a newer record or resurrects a session
    that was logged out meanwhile.
    """

    #: How long a grace record (old refresh token -> new token set) is kept.
    GRACE_SECONDS = 60.0
    #: After a transient refresh failure, wait this long before trying again.
    COOLDOWN_SECONDS = 5.0
    _MAX_MEMO = 10_000
    _MAX_POLL_DELAY = 0.25

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
        self._spent: dict[str, tuple[float, bool]] = {}
        self._keys: dict[str, str] = {}
        self._opened: dict[tuple[str, bytes], tuple[SessionRecord, ActiveSession]] = {}
        # The refresh call is cut off at `refresh_deadline`, each attempt that could not
        # connect at `timeout` (see _http), so the lease outlives the slowest refresh with
        # its retries; a killed holder blocks no one longer than this.
        self.lock_lease = config.refresh_deadline + config.timeout * config.connect_retries + 10.0
        self._max_polls = int(self.lock_lease / self._MAX_POLL_DELAY) + 10

    #: Namespaces whose records belong to one browser (its session, its pending logins);
    #: a face with its own per-browser session (Django) keeps them there.
    BROWSER_NAMESPACES = ("session", "pending")

    @classmethod
    def is_browser_record(cls, key: str) -> bool:
        """True for a key in one of :attr:`BROWSER_NAMESPACES`."""
        parts = key.rsplit(":", 2)
        return len(parts) == 3 and parts[1] in cls.BROWSER_NAMESPACES

    # keys: hashes, so a store dump reveals no handle, nonce or refresh token
    def session_key(self, handle: str) -> str:
        return f"{self.prefix}:session:{_digest(handle)}"

    def pending_key(self, nonce: str) -> str:
        return f"{self.prefix}:pending:{_digest(nonce)}"

    def lock_key(self, handle: str) -> str:
        return f"{self.prefix}:lock:{_digest(handle)}"

    def grace_key(self, refresh_token: str) -> str:
        return f"{self.prefix}:grace:{_digest(refresh_token)}"

    def spent_key(self, refresh_token: str) -> str:
        return f"{self.prefix}:spent:{_digest(refresh_token)}"

    def _mark_spent(self, tokens: TokenSet) -> Flow[None]:
        """Remember (here and in the store) that this refresh token must not be presented."""
        if tokens.refresh_token is None:
            return
        until = self.clock() + self.config.absolute_timeout
        self._remember(self._spent, _digest(tokens.refresh_token), (until, True))
        yield from self._best_effort(
            Put(self.spent_key(tokens.refresh_token), b"1", self.config.absolute_timeout),
            "remember a spent refresh token",
        )

    def _is_spent(self, tokens: TokenSet) -> Flow[bool]:
        if tokens.refresh_token is None:
            return False
        entry = self._spent.get(_digest(tokens.refresh_token))
        if entry is not None and entry[0] > self.clock():
            return True
        return (yield Get(self.spent_key(tokens.refresh_token))) is not None

    # sealing
    def _seal(self, key: str, raw: bytes) -> bytes:
        return self.keyring.seal(raw, context=key)

    def _open_record(self, key: str, blob: bytes | None) -> SessionRecord | None:
        raw = None if blob is None else self.keyring.open(blob, context=key)
        return None if raw is None else SessionRecord.from_json(raw)

    def _read(self, key: str) -> Flow[tuple[bytes | None, SessionRecord | None]]:
        blob = yield Get(key)
        return blob, self._open_record(key, blob)

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

    def _swap(self, key: str, blob: bytes, record: SessionRecord, now: float) -> ReplaceIf:
        return ReplaceIf(key, blob, self._seal(key, record.to_json()), self._ttl(record, now))

    def _best_effort(self, effect: Effect, what: str) -> Flow[Any]:
        """Perform ``effect``; a store failure is logged, not raised (the result is None)."""
        try:
            return (yield effect)
        except StoreError:
            logger.warning("redtrust: could not %s (store unavailable)", what)
            return None

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

    def _newer(self, tokens: TokenSet, candidate: TokenSet | None, now: float) -> bool:
        """True when ``candidate`` replaces ``tokens`` (a refresh result not saved yet)."""
        return (
            candidate is not None
            and candidate.expires_at > tokens.expires_at
            and freshness(candidate, now, self.config.refresh_leeway) is Freshness.FRESH
        )

    def _graced_here(self, tokens: TokenSet, now: float) -> TokenSet | None:
        if tokens.refresh_token is None:
            return None
        entry = self._grace.get(_digest(tokens.refresh_token))
        if entry is None or entry[0] <= now or not self._newer(tokens, entry[1], now):
            return None
        return entry[1]

    # -- login ----------------------------------------------------------------------------

    def begin_login(
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
    ) -> Flow[LoginStart]:
        """Record a pending login and build the signed redirect to Redtrust.

        ``callback_url`` defaults to the configured ``public_url`` + ``callback_path``; an
        adapter passes one only when it derived it from a trusted host.
        """
        callback = callback_url or self.config.redirect_url
        if callback is None:
            raise ConfigurationError("public_url", "is needed to build RedirectUrl")
        now = self.clock()
        pending = PendingLogin(
            nonce=new_handle(), next_url=validate_next(next_url, self.config), created_at=now
        )
        key = self.pending_key(pending.nonce)
        yield Put(key, self._seal(key, pending.to_json()), self.config.pending_login_ttl)
        redirect = login_redirect_url(self.config, callback, pending.nonce)
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
            if not error.is_rejection:
                raise
            raise LoginExpiredError(
                "Redtrust did not accept this sign-in", code="EXCHANGE_REJECTED"
            ) from None
        handle = new_handle()
        now = self.clock()
        record = SessionRecord(tokens=tokens, created_at=now, seen_at=now)
        yield self._put_record(self.session_key(handle), record, now)
        if previous_handle and is_handle(previous_handle):  # no fixation: the old one ends
            yield from self._best_effort(
                Delete(self.session_key(previous_handle)), "end the previous session"
            )
        remaining = tuple(n for n in browser_nonces if n != nonce)
        return LoginDone(
            handle=handle,
            next_url=validate_next(pending.next_url, self.config),
            browser_nonces=remaining,
        )

    # -- every request ----------------------------------------------------------------------

    def key_for(self, handle: str | None) -> str | None:
        """The store key of a well-formed handle; None for anything else (no store access)."""
        if not handle:
            return None
        key = self._keys.get(handle)
        if key is None:
            if not is_handle(handle):
                return None
            key = self.session_key(handle)
            self._remember_bounded(self._keys, handle, key)
        return key

    def loaded(self, handle: str, key: str, blob: bytes | None) -> Loaded:
        """Decide from the one read of a request (pure): the session, a rare idle-time touch
        to write first, :class:`RefreshNeeded`, or None."""
        opened = self._open_cached(handle, key, blob)
        if opened is None:
            return None
        record, active = opened
        now = self.clock()
        if not self._alive(record, now):
            return None
        if record.tokens.expires_in(now) <= self.config.refresh_leeway:
            return RefreshNeeded(handle=handle, key=key, current=active)
        if now - record.seen_at > self.config.idle_timeout / 10:
            # Sliding idle timeout, written rarely: most requests make no write at all.
            return Touch(active=active, key=key, blob=blob or b"", record=record)
        return active

    def serve_meanwhile(self, need: RefreshNeeded) -> ActiveSession | None:
        """What a request may serve while a refresh for it takes longer than ``timeout``:
        the session as it was read, if its access token is still valid now; else None
        (the request must wait for the refresh). Never when the refresh call has no longer
        deadline than ``timeout``: then waiting costs nothing more."""
        current = need.current
        if current is None or self.config.refresh_deadline <= self.config.timeout:
            return None
        return None if current.tokens.is_expired(self.clock()) else current

    def touch(self, touch: Touch) -> Flow[ActiveSession]:
        """Extend the idle timeout (compare-and-set; a failure changes nothing for the user)."""
        now = self.clock()
        touched = replace(touch.record, seen_at=now)
        yield from self._best_effort(
            self._swap(touch.key, touch.blob, touched, now), "extend idle time"
        )
        return touch.active

    def _open_cached(
        self, handle: str, key: str, blob: bytes | None
    ) -> tuple[SessionRecord, ActiveSession] | None:
        """Open a stored record, remembering the result by its exact sealed bytes.

        Most requests read bytes unchanged since the last one: the decryption, JSON and
        token parsing happen once per write, not once per request.
        """
        if blob is None:
            return None
        cached = self._opened.get((key, blob))
        if cached is not None:
            return cached
        record = self._open_record(key, blob)
        if record is None:
            return None
        opened = (record, self._active(handle, record, refreshed=False))
        self._remember_bounded(self._opened, (key, blob), opened)
        return opened

    def _remember_bounded(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= self._MAX_MEMO:
            with self._memo_lock:
                while len(table) >= self._MAX_MEMO:
                    try:
                        table.pop(next(iter(table)), None)
                    except (RuntimeError, StopIteration):  # changed meanwhile: look again
                        continue
        table[key] = value

    def _recheck(self, handle: str, key: str) -> Flow[Outcome | _Refreshable]:
        """Read again: the session as it now stands, or the record that still needs refresh."""
        blob, record = yield from self._read(key)
        now = self.clock()
        if blob is None or record is None or not self._alive(record, now):
            return None
        tokens = record.tokens
        if freshness(tokens, now, self.config.refresh_leeway) is Freshness.FRESH:
            return self._active(handle, record, refreshed=True)
        graced = self._graced_here(tokens, now)
        if graced is None and tokens.refresh_token is not None:
            graced = yield from self._graced_in_store(tokens, now)
        if graced is not None:  # refreshed already, not saved (a failed write): save it now
            saved = replace(record, tokens=graced, seen_at=now)
            yield from self._best_effort(self._swap(key, blob, saved, now), "save tokens")
            return self._active(handle, saved, refreshed=True)
        if tokens.refresh_token is not None and (yield from self._is_spent(tokens)):
            tokens = replace(tokens, refresh_token=None)
        if tokens.refresh_token is None:  # cannot be refreshed: use it while it lasts
            if not tokens.is_expired(now):
                return self._active(handle, record, refreshed=False)
            yield from self._best_effort(DeleteIf(key, blob), "end a session")
            return None
        return _Refreshable(blob=blob, record=record)

    def _graced_in_store(self, tokens: TokenSet, now: float) -> Flow[TokenSet | None]:
        if tokens.refresh_token is None:
            return None
        grace_key = self.grace_key(tokens.refresh_token)
        stored = self._open_record(grace_key, (yield Get(grace_key)))
        candidate = None if stored is None else stored.tokens
        return candidate if self._newer(tokens, candidate, now) else None

    def refresh(self, need: RefreshNeeded) -> Flow[Outcome]:
        """Refresh under the store lock (the driver already holds the in-process lock).

        Returns the session, or None when it ended (refresh token rejected, logged out).

        Raises:
            RefreshFailedError: a transient failure and the access token is already expired.
        """
        current = yield from self._recheck(need.handle, need.key)
        if not isinstance(current, _Refreshable):
            return current
        until = self._cooldown.get(need.key, 0.0)
        if until > self.clock():  # a refresh just failed transiently: do not hammer Redtrust
            return self._fallback(need.handle, current.record, until - self.clock())
        lock_key, owner = self.lock_key(need.handle), secrets.token_bytes(16)
        waited = yield from self._acquire(need, lock_key, owner, current)
        if not isinstance(waited, _Locked):
            return waited
        try:
            outcome = yield from self._refresh_holding_lock(
                need, Lease(lock_key, owner, self.lock_lease)
            )
        except GeneratorExit:
            raise  # abandoned: the lease expires by itself
        except BaseException:
            yield from self._best_effort(DeleteIf(lock_key, owner), "release a refresh lock")
            raise
        yield from self._best_effort(DeleteIf(lock_key, owner), "release a refresh lock")
        return outcome

    def _acquire(
        self, need: RefreshNeeded, lock_key: str, owner: bytes, current: _Refreshable
    ) -> Flow[_Locked | Outcome]:
        """Take the store lock; or, while another process refreshes, what can be served."""
        delay = 0.02
        for _ in range(self._max_polls):
            if (yield Add(lock_key, owner, self.lock_lease)):
                return _LOCKED
            if not current.record.tokens.is_expired(self.clock()):
                # Refreshing elsewhere and our token still works: serve it, don't queue.
                return self._active(need.handle, current.record, refreshed=False)
            yield Sleep(delay)
            delay = min(delay * 2, self._MAX_POLL_DELAY)
            again = yield from self._recheck(need.handle, need.key)
            if not isinstance(again, _Refreshable):
                return again
            current = again
        raise RefreshFailedError("the session is being refreshed elsewhere; try again")

    def _refresh_holding_lock(self, need: RefreshNeeded, lease: Lease) -> Flow[Outcome]:
        current = yield from self._recheck(need.handle, need.key)
        if not isinstance(current, _Refreshable):
            return current
        key, blob, record = need.key, current.blob, current.record
        try:
            new: TokenSet = yield Refresh(record.tokens, lease)
        except (UpstreamError, TokenError) as error:
            return (yield from self._refresh_failed(need, current, error))
        now = self.clock()
        old_refresh = record.tokens.refresh_token
        if old_refresh is not None:
            self._remember(self._grace, _digest(old_refresh), (now + self.GRACE_SECONDS, new))
            grace_key = self.grace_key(old_refresh)
            graced = SessionRecord(tokens=new, created_at=now, seen_at=now)
            yield from self._best_effort(
                Put(grace_key, self._seal(grace_key, graced.to_json()), self.GRACE_SECONDS),
                "keep a grace record",
            )
        saved = replace(record, tokens=new, seen_at=now)
        try:
            if not (yield self._swap(key, blob, saved, now)):
                # Changed meanwhile (a touch, a logout): never undo a logout, never replace
                # a newer token chain with this one.
                blob_now, now_record = yield from self._read(key)
                if blob_now is None or now_record is None or not self._alive(now_record, now):
                    logger.info("redtrust: session ended during its refresh; not restored")
                    yield from self._remote_logout(new)
                    return None
                if now_record.tokens.expires_at >= new.expires_at:
                    return self._active(need.handle, now_record, refreshed=True)
                saved = replace(now_record, tokens=new, seen_at=now)
                if not (yield self._swap(key, blob_now, saved, now)):
                    return None  # changed twice within one refresh: let the next request see
        except StoreError:
            # Served from the grace record until a later request manages to save it.
            logger.warning("redtrust: refreshed tokens not saved; will retry on next request")
        logger.debug("redtrust: session refreshed")
        return self._active(need.handle, saved, refreshed=True)

    def _refresh_failed(
        self, need: RefreshNeeded, current: _Refreshable, error: Exception
    ) -> Flow[Outcome]:
        kind = classify_refresh_failure(error)
        logger.warning("redtrust: refresh failed (%s, %s)", type(error).__name__, kind.value)
        if kind is _Failure.REJECTED:
            yield from self._best_effort(DeleteIf(need.key, current.blob), "end a session")
            return None
        if kind is _Failure.UNKNOWN:
            # Never present this refresh token again; use the access token while it lasts.
            yield from self._mark_spent(current.record.tokens)
            if current.record.tokens.is_expired(self.clock()):
                yield from self._best_effort(DeleteIf(need.key, current.blob), "end a session")
                return None
            spent = replace(
                current.record, tokens=replace(current.record.tokens, refresh_token=None)
            )
            yield from self._best_effort(
                self._swap(need.key, current.blob, spent, self.clock()), "mark a refresh spent"
            )
            return self._active(need.handle, spent, refreshed=False)
        self._remember(self._cooldown, need.key, self.clock() + self.COOLDOWN_SECONDS)
        return self._fallback(need.handle, current.record, self.COOLDOWN_SECONDS)

    def _fallback(self, handle: str, record: SessionRecord, wait: float) -> ActiveSession:
        """Serve the current token while it is valid; otherwise ask the user to retry."""
        if record.tokens.is_expired(self.clock()):
            raise RefreshFailedError(
                "Redtrust is unavailable; try again shortly", retry_after=max(1, round(wait))
            )
        return self._active(handle, record, refreshed=False)

    @staticmethod
    def _active(handle: str, record: SessionRecord, *, refreshed: bool) -> ActiveSession:
        return ActiveSession(
            handle=handle, tokens=record.tokens, created_at=record.created_at, refreshed=refreshed
        )

    # -- logout -----------------------------------------------------------------------------

    def _remote_logout(self, tokens: TokenSet) -> Flow[None]:
        """End the session at Redtrust too (when the profile can); failures are logged."""
        if self.config.profile.logout is None:
            return
        try:
            if tokens.is_expired(self.clock()) and tokens.refresh_token is not None:
                if (yield from self._is_spent(tokens)):
                    return
                tokens = yield Refresh(tokens)
            yield Logout(tokens)
        except (UpstreamError, TokenError) as error:
            logger.warning(
                "redtrust: remote logout failed (%s); ended locally", type(error).__name__
            )

    def logout(self, handle: str | None) -> Flow[bool]:
        """End the session: delete it here, and remotely when the profile has a logout.

        An expired access token is refreshed first, so the remote logout can still invalidate
        the refresh token. Remote failures are logged; the local session ends regardless.
        """
        if not handle or not is_handle(handle):
            return False
        key = self.session_key(handle)
        record = self._open_record(key, (yield Take(key)))
        if record is None:
            return False
        tokens = record.tokens
        graced = self._graced_here(tokens, self.clock())
        if graced is None and tokens.refresh_token is not None:
            graced = yield from self._graced_in_store(tokens, self.clock())
        # A refresh that was not saved rotated the token: log out with the newest set.
        yield from self._remote_logout(graced or tokens)
        return True


class _Locked:
    """Marker: this request holds the store lock."""


_LOCKED = _Locked()


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.store: Store = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else Client(config, clock=clock)
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self._locks = KeyedLocks()
        self._sleep = sleep

    def using(self, store: Store) -> SessionManager:
        """This manager over another store, sharing its flows, client and locks: for faces
        whose browser records live in a per-request store, such as a framework's session."""
        bound = copy.copy(self)
        bound.store = store
        return bound

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
            case ReplaceIf(key, expected, value, ttl):
                return store.replace_if(key, expected, value, ttl=ttl)
            case Exchange(temp_token):
                return self.client.exchange(temp_token)
            case Refresh(tokens, Lease() as lease):
                return self._refresh_keeping_lease(tokens, lease)
            case Refresh(tokens):
                return self.client.refresh(tokens)
            case Logout(tokens):
                return self.client.logout(tokens)
            case Sleep(seconds):
                return self._sleep(seconds)
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
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
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
        """The signed-in session with a fresh token, or None (refreshing single-flight).

        One store read when no refresh is due, and no write (but a rare idle-time touch).
        """
        key = self.flows.key_for(handle)
        if key is None or handle is None:
            return None
        loaded = self.flows.loaded(handle, key, self.store.get(key))
        if isinstance(loaded, Touch):
            return self._run(self.flows.touch(loaded))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        # A thread refreshing this session (the call may take `refresh_timeout`): wait for
        # it at most `timeout` while our token is still valid, then serve that token.
        meanwhile = self.flows.serve_meanwhile(loaded) is not None
        wait = self.config.timeout if meanwhile else self.flows.lock_lease + 5
        try:
            with self._locks.hold(loaded.key, timeout=wait):
                return self._run(self.flows.refresh(loaded))
        except TimeoutError:
            if (current := self.flows.serve_meanwhile(loaded)) is not None:
                return current
            raise RefreshFailedError("the session is being refreshed; try again") from None

    def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        return self._run(self.flows.logout(handle))

    def _refresh_keeping_lease(self, tokens: TokenSet, lease: Lease) -> TokenSet:
        """Refresh while a helper thread renews the store lock's lease (never lets it lapse)."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.seconds / 3):
                try:
                    self.store.replace_if(lease.key, lease.owner, lease.owner, ttl=lease.seconds)
                except StoreError:
                    logger.warning("redtrust: could not renew a refresh lock's lease")

        renewer = threading.Thread(target=renew, name="redtrust-lease", daemon=True)
        renewer.start()
        try:
            return self.client.refresh(tokens)
        finally:
            done.set()
            renewer.join()

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
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.config = config
        self.store: AsyncStore = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else AsyncClient(config, clock=clock)
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self._locks = AsyncKeyedLocks()
        self._inflight: dict[tuple[str, int], asyncio.Task[ActiveSession | None]] = {}
        # session key -> the first refresh task in flight for it, over whichever store
        self._refreshing: dict[str, asyncio.Task[ActiveSession | None]] = {}
        self._lasting_store = True  # False for per-request stores (`using`)
        self._sleep = sleep

    def using(self, store: AsyncStore) -> AsyncSessionManager:
        """This manager over another store, sharing its flows, client, locks and refresh
        tasks: for faces whose browser records live in a per-request store."""
        bound = copy.copy(self)
        bound.store = store
        bound._lasting_store = False
        return bound

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
            case ReplaceIf(key, expected, value, ttl):
                return await store.areplace_if(key, expected, value, ttl=ttl)
            case Exchange(temp_token):
                return await self.client.exchange(temp_token)
            case Refresh(tokens, Lease() as lease):
                return await self._refresh_keeping_lease(tokens, lease)
            case Refresh(tokens):
                return await self.client.refresh(tokens)
            case Logout(tokens):
                return await self.client.logout(tokens)
            case Sleep(seconds):
                return await self._sleep(seconds)
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
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
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
        """The signed-in session with a fresh token, or None (refreshing single-flight).

        One store read when no refresh is due, and no write (but a rare idle-time touch).
        """
        key = self.flows.key_for(handle)
        if key is None or handle is None:
            return None
        loaded = self.flows.loaded(handle, key, await self.store.aget(key))
        if isinstance(loaded, Touch):
            return await self._run(self.flows.touch(loaded))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): shield the refresh from cancellation
            with anyio.CancelScope(shield=True):
                return await self._refresh_locked(loaded)
        # One refresh task per session and store, owned by the manager: requests wait for
        # it, and a request that is cancelled (the client hung up) cannot abandon it halfway,
        # with tokens rotated upstream but not saved and the store lock left to expire.
        # Requests over another store (a per-request one, see `using`) queue on the lock
        # instead and then find the result in the grace memo, saving it into their own.
        # The call may take `refresh_timeout`: a request whose token is still valid waits at
        # most `timeout` and is served that token meanwhile, unless it must save the result
        # into a per-request store (the request whose own task makes the call).
        meanwhile = self.flows.serve_meanwhile(loaded) is not None
        if meanwhile and not self._lasting_store:
            running = self._refreshing.get(loaded.key)  # another request's, saving its own
            served = None if running is None else await self._serve_meanwhile(running, loaded)
            if served is not None:
                return served
        task = self._refresh_task(loop, loaded)
        lasting = meanwhile and self._lasting_store
        served = await self._serve_meanwhile(task, loaded) if lasting else None
        return served if served is not None else await asyncio.shield(task)

    def _refresh_task(
        self, loop: asyncio.AbstractEventLoop, loaded: RefreshNeeded
    ) -> asyncio.Task[ActiveSession | None]:
        inflight = (loaded.key, id(self.store))
        task = self._inflight.get(inflight)
        if task is None:
            task = loop.create_task(self._refresh_locked(loaded))
            self._inflight[inflight] = task
            self._refreshing.setdefault(loaded.key, task)
            task.add_done_callback(functools.partial(self._forget, inflight))
        return task

    async def _serve_meanwhile(
        self, task: asyncio.Task[ActiveSession | None], loaded: RefreshNeeded
    ) -> ActiveSession | None:
        """Wait for ``task`` at most ``timeout``; the still-valid session if it still runs."""
        await asyncio.wait({task}, timeout=self.config.timeout)
        return None if task.done() else self.flows.serve_meanwhile(loaded)

    async def _refresh_locked(self, loaded: RefreshNeeded) -> ActiveSession | None:
        async with self._locks.hold(loaded.key):
            return await self._run(self.flows.refresh(loaded))

    def _forget(self, key: tuple[str, int], task: asyncio.Task[ActiveSession | None]) -> None:
        self._inflight.pop(key, None)
        if self._refreshing.get(key[0]) is task:
            del self._refreshing[key[0]]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not reported twice

    async def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        return await self._run(self.flows.logout(handle))

    async def _refresh_keeping_lease(self, tokens: TokenSet, lease: Lease) -> TokenSet:
        """Refresh while a side task renews the store lock's lease (never lets it lapse)."""

        async def renew() -> None:
            while True:
                await anyio.sleep(lease.seconds / 3)
                try:
                    await self.store.areplace_if(
                        lease.key, lease.owner, lease.owner, ttl=lease.seconds
                    )
                except StoreError:
                    logger.warning("redtrust: could not renew a refresh lock's lease")

        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(renew)
            try:
                tokens = await self.client.refresh(tokens)
            except Exception as error:  # re-raised bare, not wrapped in an ExceptionGroup
                failure = error
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return tokens

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client.aclose()
