"""Refreshing a session, as a flow: the store lock, re-reading, and what a failure means.

The driver holds the in-process lock, which makes a refresh single-flight inside one
process; across processes the store lock does the same (``Add`` with a lease, released
with ``DeleteIf`` by its owner only, renewed by the driver while the call runs). After
either lock the record is read again and refreshed only if still needed. Every write of a
record read earlier is a compare-and-set (``ReplaceIf``) against the bytes read, so a slow
request never overwrites a newer record or resurrects a session logged out meanwhile.
"""

from __future__ import annotations

import enum
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from ..exceptions import (
    APIError,
    ProtocolError,
    RefreshFailedError,
    StoreError,
    TokenError,
    TransportError,
    UpstreamError,
)
from ..hooks import LogoutEvent, LogoutReason, RefreshEvent
from ..logevents import error_fields, log, since
from ..login import Freshness, freshness
from ..tokens import TokenSet
from .effects import Add, DeleteIf, Flow, Lease, Notify, Refresh, Sleep, best_effort
from .logout import log_ended, remote_logout
from .memo import Memo
from .records import ActiveSession, Records, SessionRecord, session_tag
from .rotation import Rotations

__all__ = [
    "COOLDOWN_SECONDS",
    "RefreshNeeded",
    "Refresher",
    "classify_refresh_failure",
    "ended",
]

logger = logging.getLogger(__name__)

#: After a transient refresh failure, wait this long before trying again.
COOLDOWN_SECONDS = 5.0
_MAX_POLL_DELAY = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshNeeded:
    """The session read needs a refresh: the driver must lock and run :meth:`Refresher.refresh`."""

    handle: str = field(repr=False)
    key: str
    #: The session as read, served instead when a refresh outlasts ``timeout`` while its
    #: access token is still valid (see :meth:`Refresher.serve_meanwhile`).
    current: ActiveSession | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Refreshable:
    """A record read from the store that still needs a refresh, with the bytes read."""

    blob: bytes = field(repr=False)
    record: SessionRecord


class _Locked:
    """Marker: this request holds the store lock."""


_LOCKED = _Locked()
Outcome: TypeAlias = "ActiveSession | None"


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


def ended(reason: LogoutReason, tokens: TokenSet, handle: str) -> Notify:
    """The news that the session ``handle`` of ``tokens`` ended for ``reason`` (logged here).
    Told even when its record could not be deleted: the browser is signed out all the same,
    and the record expires."""
    log_ended(reason, handle)
    return Notify(LogoutEvent(reason=reason, subject=tokens.subject, claims=tokens.claims))


def _joined(handle: str) -> None:
    """Log (DEBUG) a refresh that found its work done: another request's, or this
    process's unsaved one."""
    log(
        logger,
        "redtrust.refresh.joined",
        "redtrust: session already refreshed",
        outcome="joined",
        session=session_tag(handle),
    )


class Refresher:
    """The refresh flow of one process: its store lock's lease and its cool-downs."""

    def __init__(self, records: Records, rotations: Rotations) -> None:
        self.records = records
        self.rotations = rotations
        self._cooldown: Memo[str, float] = Memo(ttl=COOLDOWN_SECONDS, clock=records.clock)
        config = records.config
        # The refresh call is cut off at `refresh_deadline`, each attempt that could not
        # connect at `timeout` (see _http), so the lease outlives the slowest refresh with
        # its retries; a killed holder blocks no one longer than this.
        self.lock_lease = config.refresh_deadline + config.timeout * config.connect_retries + 10.0
        self._max_polls = int(self.lock_lease / _MAX_POLL_DELAY) + 10

    def serve_meanwhile(self, need: RefreshNeeded) -> ActiveSession | None:
        """What a request may serve while a refresh for it takes longer than ``timeout``:
        the session as it was read, if its access token is still valid now; else None
        (the request must wait for the refresh). Never when the refresh call has no longer
        deadline than ``timeout``: then waiting costs nothing more."""
        current, config = need.current, self.records.config
        if current is None or config.refresh_deadline <= config.timeout:
            return None
        return None if current.tokens.is_expired(self.records.clock()) else current

    def refresh(self, need: RefreshNeeded) -> Flow[Outcome]:
        """Refresh under the store lock (the driver already holds the in-process lock).

        Returns the session, or None when it ended (refresh token rejected, logged out).

        Raises:
            RefreshFailedError: a transient failure and the access token is already expired.
        """
        current = yield from self._recheck(need.handle, need.key)
        if not isinstance(current, _Refreshable):
            return current
        clock = self.records.clock
        until = self._cooldown.get(need.key)
        if until is not None and until > clock():  # a refresh just failed transiently:
            return self._fallback(need.handle, current.record, until - clock())  # wait
        lock_key, owner = self.records.lock_key(need.handle), secrets.token_bytes(16)
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
            yield from best_effort(DeleteIf(lock_key, owner), "release a refresh lock")
            raise
        yield from best_effort(DeleteIf(lock_key, owner), "release a refresh lock")
        return outcome

    def _recheck(self, handle: str, key: str) -> Flow[Outcome | _Refreshable]:
        """Read again: the session as it now stands, or the record that still needs refresh."""
        records = self.records
        blob, record = yield from records.read(key)
        now = records.clock()
        if blob is None or record is None or not records.alive(record, now):
            return None
        tokens = record.tokens
        if freshness(tokens, now, records.config.refresh_leeway) is Freshness.FRESH:
            _joined(handle)
            return records.active(handle, record, refreshed=True)
        graced = yield from self.rotations.graced(tokens, now)
        if graced is not None:  # refreshed already, not saved (a failed write): save it now
            _joined(handle)
            saved = replace(record, tokens=graced, seen_at=now)
            yield from best_effort(records.swap(key, blob, saved, now), "save tokens")
            return records.active(handle, saved, refreshed=True)
        if tokens.refresh_token is not None and (yield from self.rotations.is_spent(tokens)):
            tokens = replace(tokens, refresh_token=None)
        if tokens.refresh_token is None:  # cannot be refreshed: use it while it lasts
            if not tokens.is_expired(now):
                return records.active(handle, record, refreshed=False)
            yield from best_effort(DeleteIf(key, blob), "end a session")
            yield ended(LogoutReason.TOKEN_EXPIRED, tokens, handle)
            return None
        return _Refreshable(blob=blob, record=record)

    def _acquire(
        self, need: RefreshNeeded, lock_key: str, owner: bytes, current: _Refreshable
    ) -> Flow[_Locked | Outcome]:
        """Take the store lock; or, while another process refreshes, what can be served."""
        delay = 0.02
        for _ in range(self._max_polls):
            if (yield Add(lock_key, owner, self.lock_lease)):
                return _LOCKED
            if not current.record.tokens.is_expired(self.records.clock()):
                # Refreshing elsewhere and our token still works: serve it, don't queue.
                return self.records.active(need.handle, current.record, refreshed=False)
            yield Sleep(delay)
            delay = min(delay * 2, _MAX_POLL_DELAY)
            again = yield from self._recheck(need.handle, need.key)
            if not isinstance(again, _Refreshable):
                return again
            current = again
        raise RefreshFailedError("the session is being refreshed elsewhere; try again")

    def _refresh_holding_lock(self, need: RefreshNeeded, lease: Lease) -> Flow[Outcome]:
        current = yield from self._recheck(need.handle, need.key)
        if not isinstance(current, _Refreshable):
            return current
        records, key, blob, record = self.records, need.key, current.blob, current.record
        started = time.perf_counter()  # for the log only: decisions use the injected clock
        try:
            new: TokenSet = yield Refresh(record.tokens, lease)
        except (UpstreamError, TokenError) as error:
            return (yield from self._refresh_failed(need, current, error, since(started)))
        latency = since(started)
        now = records.clock()
        records.received(new, now)
        yield from self.rotations.rotated(record.tokens, new, now)
        saved = replace(record, tokens=new, seen_at=now)
        try:
            if not (yield records.swap(key, blob, saved, now)):
                # Changed meanwhile (a touch, a logout): never undo a logout, never replace
                # a newer token chain with this one.
                blob_now, now_record = yield from records.read(key)
                if blob_now is None or now_record is None or not records.alive(now_record, now):
                    log(
                        logger,
                        "redtrust.refresh.superseded",
                        "redtrust: session ended during its refresh; not restored",
                        session=session_tag(need.handle),
                    )
                    yield from remote_logout(self.rotations, new)
                    return None
                if now_record.tokens.expires_at >= new.expires_at:
                    return records.active(need.handle, now_record, refreshed=True)
                saved = replace(now_record, tokens=new, seen_at=now)
                if not (yield records.swap(key, blob_now, saved, now)):
                    return None  # changed twice within one refresh: let the next request see
        except StoreError:
            # Served from the grace record until a later request manages to save it (that
            # one announces nothing: this refresh is announced once, here).
            log(
                logger,
                "redtrust.refresh.not_saved",
                "redtrust: refreshed tokens not saved; will retry on next request",
                session=session_tag(need.handle),
            )
        log(
            logger,
            "redtrust.refresh.completed",
            "redtrust: session refreshed in %.0f ms",
            latency,
            outcome="refreshed",
            session=session_tag(need.handle),
            latency_ms=latency,
        )
        yield Notify(RefreshEvent(subject=new.subject, tokens=new, created_at=saved.created_at))
        return records.active(need.handle, saved, refreshed=True)

    def _refresh_failed(
        self, need: RefreshNeeded, current: _Refreshable, error: Exception, latency: float
    ) -> Flow[Outcome]:
        kind = classify_refresh_failure(error)
        log(
            logger,
            "redtrust.refresh.failed",
            "redtrust: refresh failed (%s, %s)",
            type(error).__name__,
            kind.value,
            outcome=kind.value,
            session=session_tag(need.handle),
            latency_ms=latency,
            **error_fields(error),
        )
        records, tokens = self.records, current.record.tokens
        if kind is _Failure.REJECTED:
            yield from best_effort(DeleteIf(need.key, current.blob), "end a session")
            yield ended(LogoutReason.REFRESH_REJECTED, tokens, need.handle)
            return None
        if kind is _Failure.UNKNOWN:
            # Never present this refresh token again; use the access token while it lasts.
            yield from self.rotations.mark_spent(tokens)
            if tokens.is_expired(records.clock()):
                yield from best_effort(DeleteIf(need.key, current.blob), "end a session")
                yield ended(LogoutReason.TOKEN_EXPIRED, tokens, need.handle)
                return None
            spent = replace(current.record, tokens=replace(tokens, refresh_token=None))
            yield from best_effort(
                records.swap(need.key, current.blob, spent, records.clock()),
                "mark a refresh spent",
            )
            return records.active(need.handle, spent, refreshed=False)
        self._cooldown.put(need.key, records.clock() + COOLDOWN_SECONDS)
        return self._fallback(need.handle, current.record, COOLDOWN_SECONDS)

    def _fallback(self, handle: str, record: SessionRecord, wait: float) -> ActiveSession:
        """Serve the current token while it is valid; otherwise ask the user to retry."""
        if record.tokens.is_expired(self.records.clock()):
            raise RefreshFailedError(
                "Redtrust is unavailable; try again shortly", retry_after=max(1, round(wait))
            )
        return self.records.active(handle, record, refreshed=False)
