"""All of the sandbox's mutable state, behind one lock.

Login attempts, temporary tokens, sessions with their refresh tokens, call counters, injected
faults and the latency live here. Every method takes the lock for its whole read-check-write,
so concurrent callers see each record used exactly once (single-use temporary tokens, rotated
refresh tokens).

Memory is bounded. Every record table is capped (``SandboxConfig.max_*``; the oldest record
goes first, an ended or expired session before a running one) and a record that stopped
working is forgotten ``retention_seconds`` later (see :class:`SandboxConfig`). Each table is
kept in the order its records are forgotten, so housekeeping (:meth:`SandboxState._housekeep`,
run with the injected clock's time at the start of every operation) only pops records off the
front: every record is inserted and removed once, O(1) amortised per request (O(log n) for the
session expiry heap), never a scan of a whole table.
"""

from __future__ import annotations

import heapq
import hmac
import secrets
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from .._clock import Clock
from ._config import SandboxConfig
from ._errors import (
    EXPIRED_LOGIN_ATTEMPT,
    EXPIRED_REFRESH_TOKEN,
    EXPIRED_TEMPORAL_TOKEN,
    INVALID_BEARER,
    INVALID_LOGIN_ATTEMPT,
    INVALID_REFRESH_TOKEN,
    INVALID_TEMPORAL_TOKEN,
    TOO_MANY_LOGIN_ATTEMPTS,
    Reject,
    unauthorized,
)
from ._faults import Fault, FaultChange, FaultKind

__all__ = ["FaultPlan", "LoginAttempt", "SandboxState", "SessionInfo"]

#: Counter key incremented when a rotated-out refresh token is presented again.
REFRESH_REUSE = "refresh_reuse"


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A login form shown by ``loginrequest``: where the user goes back after signing in."""

    attempt_id: str = field(repr=False)
    partner: str
    consumer: str
    domain: str | None
    redirect_url: str
    expires_at: float
    #: The signed ``PARTNER:TIMESTAMP`` of the login link that opened it.
    link: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class _TempToken:
    partner: str
    username: str
    domain: str | None
    expires_at: float


@dataclass(slots=True)
class _Session:
    session_id: str
    username: str
    partner: str | None
    domain: str | None
    refresh_token: str = field(repr=False)
    refresh_expires_at: float
    created_at: float
    active: bool = True
    refreshes: int = 0
    #: When it was logged out, revoked or its refresh token expired; None while running.
    ended_at: float | None = None

    def info(self) -> SessionInfo:
        return SessionInfo(
            session_id=self.session_id,
            username=self.username,
            partner=self.partner,
            domain=self.domain,
            refresh_token=self.refresh_token,
            refresh_expires_at=self.refresh_expires_at,
            created_at=self.created_at,
            active=self.active,
            refreshes=self.refreshes,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """A snapshot of one sandbox session (the refresh token is kept out of the repr).

    ``partner`` is the partner whose HMAC headers opened it; ``None`` for a direct login sent
    without them (such a session takes calls from whoever holds its tokens).
    """

    session_id: str
    username: str
    partner: str | None
    domain: str | None
    refresh_token: str = field(repr=False)
    refresh_expires_at: float
    created_at: float
    active: bool
    refreshes: int


class FaultPlan(NamedTuple):
    """What to do to one call: answer ``fail_status`` or a ``hostile`` answer instead of
    handling it, or handle it and ``drop`` the response; hold the answer ``latency`` s."""

    fail_status: int | None = None
    hostile: str | None = None
    drop: bool = False
    latency: float = 0.0


@dataclass(slots=True)
class _Planned:
    fault: Fault
    remaining: int


def _same_partner(owner: str | None, caller: str | None) -> bool:
    """A signed caller must be the session's partner; an unsigned call, or a session that
    belongs to no partner, binds nothing."""
    return owner is None or caller is None or owner == caller


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class SandboxState:
    """The records and the lock; see the module docstring."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.latency = 0.0
        self._faults: list[_Planned] = []
        # Every OrderedDict below is oldest first, which is also the order of forgetting.
        self._attempts: OrderedDict[str, LoginAttempt] = OrderedDict()
        # signed link -> its unused attempts (id -> expires_at), for max_attempts_per_link
        self._link_attempts: dict[str, OrderedDict[str, float]] = {}
        self._temp_tokens: OrderedDict[str, _TempToken] = OrderedDict()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # by creation
        self._ended: OrderedDict[str, None] = OrderedDict()  # session ids, by ended_at
        # (refresh_expires_at, session id) of running sessions; stale entries are skipped
        self._expiries: list[tuple[float, str]] = []
        # refresh token -> session id, while it can still be refreshed or answer EXPIRED_...
        self._by_refresh: dict[str, str] = {}
        # refresh tokens replaced by a rotation -> when to forget them
        self._retired: OrderedDict[str, float] = OrderedDict()

    # -- housekeeping --------------------------------------------------------------------

    def _housekeep(self, now: float) -> None:
        """Forget what stopped working ``retention_seconds`` ago; mark expired sessions ended.

        Called under the lock at the start of every operation. Only pops records off the
        front of tables kept in forgetting order, so its cost is amortised over the inserts.
        """
        retention = self.config.retention_seconds
        attempts = self._attempts
        while attempts:
            attempt = next(iter(attempts.values()))
            if now < attempt.expires_at + retention:
                break
            self._drop_attempt(attempt.attempt_id)
        tokens = self._temp_tokens
        while tokens and now >= next(iter(tokens.values())).expires_at + retention:
            tokens.popitem(last=False)
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expires_at, session_id = heapq.heappop(expiries)
            session = self._sessions.get(session_id)
            if (
                session is not None
                and session.ended_at is None
                and session.refresh_expires_at == expires_at
            ):
                self._mark_ended(session, expires_at)
        ended = self._ended
        while ended:
            session = self._sessions[next(iter(ended))]
            if session.ended_at is not None and now < session.ended_at + retention:
                break
            self._forget_session(session)
        retired = self._retired
        while retired and now >= next(iter(retired.values())):
            retired.popitem(last=False)

    def record_counts(self) -> dict[str, int]:
        """The size of every record table (for tests of the bounds)."""
        with self.lock:
            self._housekeep(self.clock())
            return {
                "login_attempts": len(self._attempts),
                "login_links": len(self._link_attempts),
                "temp_tokens": len(self._temp_tokens),
                "sessions": len(self._sessions),
                "ended_sessions": len(self._ended),
                "session_expiries": len(self._expiries),
                "refresh_tokens": len(self._by_refresh),
                "retired_refresh_tokens": len(self._retired),
            }

    # -- counters and faults -------------------------------------------------------------

    def count_call(self, endpoint: str) -> FaultPlan:
        """Count a call to ``endpoint`` and take the first fault planned for it.

        Faults that replace the answer (``fail``, ``hostile``) come before ``drop``.
        """
        with self.lock:
            self.calls[endpoint] += 1
            latency = self.latency
            if (fault := self._take_fault("fail", endpoint)) is not None:
                return FaultPlan(fail_status=fault.status, latency=latency)
            if (fault := self._take_fault("hostile", endpoint)) is not None:
                return FaultPlan(hostile=fault.variant, latency=latency)
            drop = self._take_fault("drop", endpoint) is not None
            return FaultPlan(drop=drop, latency=latency)

    def _take_fault(self, kind: FaultKind, endpoint: str) -> Fault | None:
        for planned in self._faults:
            fault = planned.fault
            if fault.kind == kind and fault.endpoint in (None, endpoint):
                planned.remaining -= 1
                if planned.remaining == 0:
                    self._faults.remove(planned)
                return fault
        return None

    def change_faults(self, change: FaultChange) -> None:
        """Apply ``change`` at once: clear, set the latency, plan (after the ones planned)."""
        with self.lock:
            if change.clear:
                self._faults.clear()
            if change.latency is not None:
                self.latency = change.latency
            self._faults.extend(_Planned(fault, fault.count) for fault in change.faults)

    def fault_plan(self) -> tuple[float, tuple[Fault, ...]]:
        """The latency and the faults still planned, in order, each with the count left."""
        with self.lock:
            return self.latency, tuple(replace(p.fault, count=p.remaining) for p in self._faults)

    def reset_counters(self) -> None:
        """Zero every counter."""
        with self.lock:
            self.calls.clear()

    def count_snapshot(self) -> dict[str, int]:
        """A consistent copy of the counters."""
        with self.lock:
            return dict(self.calls)

    # -- browser login -------------------------------------------------------------------

    def check_password(self, username: str, password: str) -> bool:
        """Constant-time check of a user's password (unknown users cost the same)."""
        expected = self.config.users.get(username)
        given = password.encode("utf-8")
        if expected is None:
            hmac.compare_digest(given, given)
            return False
        return hmac.compare_digest(expected.encode("utf-8"), given)

    def open_attempt(
        self, *, partner: str, consumer: str, domain: str | None, redirect_url: str, link: str
    ) -> LoginAttempt:
        """Record a login form just shown; it lives ``login_page_ttl`` seconds.

        ``link`` is the signed ``PARTNER:TIMESTAMP`` of the login link: one link may have at
        most ``max_attempts_per_link`` unexpired, unused attempts (429 beyond that).
        """
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            open_attempts = self._link_attempts.get(link)
            if open_attempts is not None:
                while open_attempts and now >= next(iter(open_attempts.values())):
                    open_attempts.popitem(last=False)  # expired: it no longer counts
                if len(open_attempts) >= self.config.max_attempts_per_link:
                    raise Reject(
                        429,
                        TOO_MANY_LOGIN_ATTEMPTS,
                        "this sign-in link has too many open sign-in pages: start again",
                    )
            while len(self._attempts) >= self.config.max_login_attempts:
                self._drop_attempt(next(iter(self._attempts)))
            attempt = LoginAttempt(
                attempt_id=_new_secret(),
                partner=partner,
                consumer=consumer,
                domain=domain,
                redirect_url=redirect_url,
                expires_at=now + self.config.login_page_ttl,
                link=link,
            )
            self._attempts[attempt.attempt_id] = attempt
            self._link_attempts.setdefault(link, OrderedDict())[attempt.attempt_id] = (
                attempt.expires_at
            )
        return attempt

    def _drop_attempt(self, attempt_id: str) -> None:
        attempt = self._attempts.pop(attempt_id)
        open_attempts = self._link_attempts.get(attempt.link)
        if open_attempts is not None:
            open_attempts.pop(attempt_id, None)
            if not open_attempts:
                del self._link_attempts[attempt.link]

    def _live_attempt(self, attempt_id: str) -> LoginAttempt:
        now = self.clock()
        self._housekeep(now)
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            raise Reject(400, INVALID_LOGIN_ATTEMPT, "this sign-in page is unknown or was used")
        if now >= attempt.expires_at:
            self._drop_attempt(attempt_id)
            raise Reject(400, EXPIRED_LOGIN_ATTEMPT, "this sign-in page expired: start again")
        return attempt

    def peek_attempt(self, attempt_id: str) -> LoginAttempt:
        """The live attempt (kept); 400 when unknown, used or expired."""
        with self.lock:
            return self._live_attempt(attempt_id)

    def complete_attempt(self, attempt_id: str, username: str) -> tuple[LoginAttempt, str]:
        """Use the attempt up and issue its temporary token: ``(attempt, tkn)``."""
        with self.lock:
            attempt = self._live_attempt(attempt_id)
            self._drop_attempt(attempt_id)
            token = self._issue_temp_token(attempt.partner, username, attempt.domain)
        return attempt, token

    # -- tokens --------------------------------------------------------------------------

    def _issue_temp_token(self, partner: str, username: str, domain: str | None) -> str:
        now = self.clock()
        self._housekeep(now)
        while len(self._temp_tokens) >= self.config.max_temp_tokens:
            self._temp_tokens.popitem(last=False)
        token = _new_secret()
        expires_at = now + self.config.temp_token_ttl
        self._temp_tokens[token] = _TempToken(partner, username, domain, expires_at)
        return token

    def issue_temp_token(self, partner: str, username: str, domain: str | None) -> str:
        """A temporary token as if ``username`` had signed in on the page."""
        with self.lock:
            return self._issue_temp_token(partner, username, domain)

    def exchange(self, partner: str, token: str) -> SessionInfo:
        """Use up a temporary token and open a session.

        The token is consumed by any presentation, even a failing one (another partner's or
        expired), so it can never be tried twice.
        """
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            record = self._temp_tokens.pop(token, None)
            if record is None or record.partner != partner:
                raise unauthorized(INVALID_TEMPORAL_TOKEN, "the temporal token is not valid")
            if now >= record.expires_at:
                raise unauthorized(EXPIRED_TEMPORAL_TOKEN, "the temporal token expired")
            return self._open_session(now, partner, record.username, record.domain)

    def open_session(self, partner: str | None, username: str, domain: str | None) -> SessionInfo:
        """A new session for a user authenticated directly (``raapi`` login); ``partner``
        ``None`` when the login carried no HMAC headers."""
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            return self._open_session(now, partner, username, domain)

    def _open_session(
        self, now: float, partner: str | None, username: str, domain: str | None
    ) -> SessionInfo:
        while len(self._sessions) >= self.config.max_sessions:
            # The longest-ended session goes first; only without one, the oldest running one.
            victim = next(iter(self._ended)) if self._ended else next(iter(self._sessions))
            self._forget_session(self._sessions[victim])
        session = _Session(
            session_id=secrets.token_urlsafe(16),
            username=username,
            partner=partner,
            domain=domain,
            refresh_token=_new_secret(),
            refresh_expires_at=now + self.config.refresh_token_ttl,
            created_at=now,
        )
        self._sessions[session.session_id] = session
        self._by_refresh[session.refresh_token] = session.session_id
        self._watch_expiry(session)
        return session.info()

    def _watch_expiry(self, session: _Session) -> None:
        """Queue the session's refresh expiry, so housekeeping can mark it ended then."""
        heapq.heappush(self._expiries, (session.refresh_expires_at, session.session_id))
        # Entries of forgotten or rotated sessions stay until due: rebuild when they pile up
        # (after at least len(sessions) pushes, so this is amortised O(1)).
        if len(self._expiries) > 2 * len(self._sessions) + 64:
            self._expiries = [
                (s.refresh_expires_at, s.session_id)
                for s in self._sessions.values()
                if s.ended_at is None
            ]
            heapq.heapify(self._expiries)

    def _mark_ended(self, session: _Session, at: float) -> None:
        session.ended_at = at
        self._ended[session.session_id] = None

    def _forget_session(self, session: _Session) -> None:
        del self._sessions[session.session_id]
        self._ended.pop(session.session_id, None)
        if self._by_refresh.get(session.refresh_token) == session.session_id:
            del self._by_refresh[session.refresh_token]

    def _retire(self, token: str, now: float) -> None:
        """Remember a rotated-out refresh token for reuse detection."""
        config = self.config
        while len(self._retired) >= config.max_retired_refresh_tokens:
            self._retired.popitem(last=False)
        self._retired[token] = now + config.refresh_token_ttl + config.retention_seconds

    def refresh(
        self, partner: str | None, token: str, *, bearer_session: str | None
    ) -> SessionInfo:
        """Refresh the session of ``token``; rotate it when the config says so.

        ``partner`` is the one that signed the call (``None``: unsigned, the RA API shape): a
        signed call may not refresh another partner's session. ``bearer_session`` (the
        tutorial shape) must name the same session as the token. A rotated-out token
        presented again counts ``calls["refresh_reuse"]``.
        """
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            session_id = self._by_refresh.get(token)
            session = self._sessions.get(session_id) if session_id else None
            if session is None or not _same_partner(session.partner, partner):
                if token in self._retired:
                    self.calls[REFRESH_REUSE] += 1
                raise unauthorized(INVALID_REFRESH_TOKEN, "the refresh token is not valid")
            if bearer_session is not None and bearer_session != session.session_id:
                raise unauthorized(INVALID_BEARER, "the bearer belongs to another session")
            if now >= session.refresh_expires_at:
                raise unauthorized(EXPIRED_REFRESH_TOKEN, "the refresh token expired")
            if self.config.rotate_refresh_tokens:
                del self._by_refresh[token]
                self._retire(token, now)
                session.refresh_token = _new_secret()
                session.refresh_expires_at = now + self.config.refresh_token_ttl
                self._by_refresh[session.refresh_token] = session.session_id
                self._watch_expiry(session)
            session.refreshes += 1
            return session.info()

    def end_session(self, session_id: str) -> None:
        """End a session (logout): its refresh token stops working. Idempotent."""
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            session = self._sessions.get(session_id)
            if session is not None:
                self._end(session, now)

    def _end(self, session: _Session, now: float) -> None:
        session.active = False
        self._by_refresh.pop(session.refresh_token, None)
        if session.ended_at is None:
            self._mark_ended(session, now)

    # -- test helpers --------------------------------------------------------------------

    def revoke(self, username: str) -> int:
        """End every active session of ``username``; the number ended."""
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            ended = [s for s in self._sessions.values() if s.username == username and s.active]
            for session in ended:
                self._end(session, now)
            return len(ended)

    def expire_session(self, refresh_token: str) -> bool:
        """Make a live refresh token expired (as if ``refresh_token_ttl`` had passed)."""
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            session_id = self._by_refresh.get(refresh_token)
            if session_id is None:
                return False
            session = self._sessions[session_id]
            session.refresh_expires_at = now
            if session.ended_at is None:
                self._mark_ended(session, now)
            return True

    def session_user(self, session_id: str) -> str | None:
        """The user of a running session; None when it ended, expired or is unknown."""
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            session = self._sessions.get(session_id)
            if session is None or not session.active or session.ended_at is not None:
                return None
            return session.username

    def sessions_for(self, username: str) -> list[SessionInfo]:
        """Snapshots of every session of ``username``, oldest first.

        Ended and expired sessions are included until ``retention_seconds`` after they ended.
        """
        with self.lock:
            self._housekeep(self.clock())
            return [s.info() for s in self._sessions.values() if s.username == username]
