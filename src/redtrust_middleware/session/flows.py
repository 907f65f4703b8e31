""":class:`SessionFlows`: every session operation as a flow, and each request's one read.

This is what both drivers hold. Each request reads its record once and :meth:`loaded`
decides from it (pure): most requests are served from that one read, a few write an
idle-time :meth:`touch`, and a session due for refresh goes to :mod:`.refresh`. Signing in
and out are in :mod:`.signin` and :mod:`.logout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from .._clock import Clock
from ..config import RedtrustConfig
from ..hooks import LogoutEvent, LogoutReason
from ..login import is_handle
from ..stores import NOT_LOCAL, Keyring, LocalValue
from . import logout, signin
from .effects import Flow, best_effort
from .memo import Cache
from .records import ActiveSession, LoginDone, LoginStart, Records, SessionRecord
from .refresh import COOLDOWN_SECONDS, Refresher, RefreshNeeded
from .rotation import GRACE_SECONDS, Rotations

__all__ = ["Loaded", "Serving", "SessionFlows", "Touch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Touch:
    """Returned by :meth:`SessionFlows.loaded`: serve ``active`` after extending idle time."""

    active: ActiveSession
    key: str
    blob: bytes = field(repr=False)
    record: SessionRecord


Loaded: TypeAlias = "ActiveSession | Touch | RefreshNeeded | None"
#: A store's :meth:`~redtrust_middleware.stores.LocalReads.read_local`.
LocalRead: TypeAlias = Callable[[str], LocalValue]
#: What :meth:`SessionFlows.fresh` serves again without deciding (remembered by it and by
#: :meth:`SessionFlows.loaded`): the record's store key, the bytes read from it, the session
#: they serve, and until when (see :meth:`SessionFlows.serving`).
Serving: TypeAlias = "tuple[str, bytes, ActiveSession, float]"


class SessionFlows(Records):
    """Every session operation as an effect-yielding generator; shared by both drivers.

    Holds no per-request state: the only mutable members are the in-process memos (grace
    records, spent tokens, cool-downs, and caches of keys and opened records), keyed by
    hashes or handles and bounded.
    """

    GRACE_SECONDS = GRACE_SECONDS
    COOLDOWN_SECONDS = COOLDOWN_SECONDS

    def __init__(
        self, config: RedtrustConfig, keyring: Keyring, clock: Clock, *, prefix: str = "redtrust"
    ) -> None:
        super().__init__(config, keyring, clock, prefix=prefix)
        self.rotations = Rotations(self)
        self.refresher = Refresher(self, self.rotations)
        # Sized to the sessions this process serves: a round-robin over more sessions than
        # these hold would open every record on every request.
        sessions = config.local_sessions
        self._keys: Cache[str, str] = Cache(max_entries=sessions)
        self._opened: Cache[tuple[str, bytes], tuple[SessionRecord, ActiveSession]] = Cache(
            max_entries=sessions
        )
        # handle -> (its key, the bytes read, the session they serve, until when): `fresh`
        # and `loaded` fill it, `fresh` and the gate's `served` read it
        self._serving: Cache[str, Serving] = Cache(max_entries=sessions)

    @property
    def lock_lease(self) -> float:
        """How long the store lock of a refresh is held before it lapses (renewed meanwhile)."""
        return self.refresher.lock_lease

    @lock_lease.setter
    def lock_lease(self, seconds: float) -> None:
        self.refresher.lock_lease = seconds

    # -- signing in and out -----------------------------------------------------------------

    def begin_login(
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
    ) -> Flow[LoginStart]:
        """Start a login: see :func:`.signin.begin_login`."""
        return signin.begin_login(
            self, next_url=next_url, callback_url=callback_url, browser_nonces=browser_nonces
        )

    def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> Flow[LoginDone]:
        """Complete a login from its callback: see :func:`.signin.complete_login`."""
        return signin.complete_login(
            self, query=query, browser_nonces=browser_nonces, previous_handle=previous_handle
        )

    def logout(self, handle: str | None) -> Flow[bool]:
        """End a session: see :func:`.logout.logout`."""
        return logout.logout(self, self.rotations, handle)

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
            self._keys.put(handle, key)
        return key

    def loaded(
        self, handle: str, key: str, blob: bytes | None, *, serve_again: bool = False
    ) -> Loaded:
        """Decide from the one read of a request: the session, a rare idle-time touch to
        write first, :class:`RefreshNeeded`, or None. With ``serve_again`` (the store has
        local reads) a session served is remembered for :meth:`fresh`, so a session's next
        request is already served as it."""
        opened = self._open_cached(handle, key, blob)
        if opened is None:
            return None
        decided = self._decide(handle, key, blob, opened)
        if serve_again and blob is not None and isinstance(decided, ActiveSession):
            self._serving.put(handle, (key, blob, decided, self._served_until(opened[0])))
        return decided

    def fresh(self, handle: str, key: str, blob: bytes) -> ActiveSession | None:
        """The session to serve from ``blob`` (read from ``key``) when :meth:`loaded` would
        serve it with nothing to do first and its record is open already; else None (then
        decide with :meth:`loaded`). It opens nothing: the per-request fast path.

        Once a read was served, the same bytes are served again until the first moment
        anything could fall due (a touch, a refresh, a timeout) without deciding again: each
        only comes later as time passes. Other bytes (the record was written, by this process
        or another) are decided anew.
        """
        serving = self._serving.get(handle)
        if serving is not None and serving[1] is blob and self.clock() < serving[3]:
            return serving[2]
        opened = self._opened.get((key, blob))
        if opened is None:
            return None
        decided = self._decide(handle, key, blob, opened)
        if not isinstance(decided, ActiveSession):
            return None
        self._serving.put(handle, (key, blob, decided, self._served_until(opened[0])))
        return decided

    def serving(self, handle: str) -> Serving | None:
        """What :meth:`fresh` or :meth:`loaded` last served for ``handle``, or None. It
        holds while the store still has those very bytes under its key and the clock is
        before its deadline (see :meth:`~redtrust_middleware.web.Gate.served`): a face may
        remember it beside its answer."""
        return self._serving.get(handle)

    def fresh_local(self, handle: str, read: LocalRead) -> ActiveSession | None:
        """:meth:`fresh` for the bytes ``read`` answers (a store's
        :meth:`~redtrust_middleware.stores.LocalReads.read_local`, which does no I/O); None
        also when it knows nothing here, or knows the record is gone."""
        serving = self._serving.get(handle)
        if serving is not None:
            known, blob, session, until = serving
            if read(known) is blob and self.clock() < until:
                return session  # the same bytes as last time, before any deadline
        key = self.key_for(handle)
        if key is None:
            return None
        read_now = read(key)
        if read_now is None or read_now is NOT_LOCAL:
            return None
        return self.fresh(handle, key, read_now)

    def _served_until(self, record: SessionRecord) -> float:
        """A moment before which :meth:`_decide` serves ``record`` with nothing to do: the
        earliest of its deadlines, less a millisecond so that rounding never serves what
        :meth:`_decide` would not (close to a deadline, it decides)."""
        config, tokens = self.config, record.tokens
        return (
            min(
                record.seen_at + config.idle_timeout / 10,  # the idle-time touch
                record.seen_at + config.idle_timeout,
                record.created_at + config.absolute_timeout,
                tokens.expires_in(0.0) - config.refresh_leeway,  # the refresh
            )
            - 0.001
        )

    def _decide(
        self,
        handle: str,
        key: str,
        blob: bytes | None,
        opened: tuple[SessionRecord, ActiveSession],
    ) -> Loaded:
        record, active = opened
        now = self.clock()
        if not self.alive(record, now):
            return None
        if record.tokens.expires_in(now) <= self.config.refresh_leeway:
            return RefreshNeeded(handle=handle, key=key, current=active)
        if now - record.seen_at > self.config.idle_timeout / 10:
            # Sliding idle timeout, written rarely: most requests make no write at all.
            return Touch(active=active, key=key, blob=blob or b"", record=record)
        return active

    def why_ended(self, handle: str, key: str, blob: bytes | None) -> LogoutEvent:
        """Why :meth:`loaded` found no session ``handle`` in the read ``blob`` of ``key``
        (only on that rare path), logged: a timeout when the record is still readable, else
        ``EXPIRED``."""
        record = self.open_record(key, blob)
        if record is None:
            logout.log_ended(LogoutReason.EXPIRED, handle)
            return LogoutEvent(reason=LogoutReason.EXPIRED)
        now, config = self.clock(), self.config
        absolute = now - record.created_at >= config.absolute_timeout
        reason = LogoutReason.ABSOLUTE_TIMEOUT if absolute else LogoutReason.IDLE_TIMEOUT
        logout.log_ended(reason, handle)
        tokens = record.tokens
        return LogoutEvent(reason=reason, subject=tokens.subject, claims=tokens.claims)

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
        record = self.open_record(key, blob)
        if record is None:
            return None
        opened = (record, self.active(handle, record, refreshed=False))
        self._opened.put((key, blob), opened)
        return opened

    def touch(self, touch: Touch) -> Flow[ActiveSession]:
        """Extend the idle timeout (compare-and-set; a failure changes nothing for the user)."""
        now = self.clock()
        touched = replace(touch.record, seen_at=now)
        yield from best_effort(self.swap(touch.key, touch.blob, touched, now), "extend idle time")
        return touch.active

    # -- refreshing -------------------------------------------------------------------------

    def refresh(self, need: RefreshNeeded) -> Flow[ActiveSession | None]:
        """Refresh under the store lock: see :meth:`.refresh.Refresher.refresh`."""
        return self.refresher.refresh(need)

    def serve_meanwhile(self, need: RefreshNeeded) -> ActiveSession | None:
        """What to serve while a refresh is slow: see :meth:`.refresh.Refresher.serve_meanwhile`."""
        return self.refresher.serve_meanwhile(need)
