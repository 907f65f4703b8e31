"""All of the sandbox's mutable state, behind one lock.

Login attempts, temporary tokens, sessions with their refresh tokens, call counters, injected
faults and the latency live here. Every method takes the lock for its whole read-check-write,
so concurrent callers see each record used exactly once (single-use temporary tokens, rotated
refresh tokens).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

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
    Reject,
    unauthorized,
)

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
    partner: str
    domain: str | None
    refresh_token: str = field(repr=False)
    refresh_expires_at: float
    created_at: float
    active: bool = True
    refreshes: int = 0

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
    """A snapshot of one sandbox session (the refresh token is kept out of the repr)."""

    session_id: str
    username: str
    partner: str
    domain: str | None
    refresh_token: str = field(repr=False)
    refresh_expires_at: float
    created_at: float
    active: bool
    refreshes: int


FaultKind = Literal["fail", "hostile", "drop"]


class FaultPlan(NamedTuple):
    """What to do to one call: answer ``fail_status`` or a ``hostile`` answer instead of
    handling it, or handle it and ``drop`` the response."""

    fail_status: int | None = None
    hostile: str | None = None
    drop: bool = False


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int
    endpoint: str | None
    status: int = 0
    variant: str = ""


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
        self._faults: list[_Fault] = []
        self._attempts: dict[str, LoginAttempt] = {}
        self._temp_tokens: dict[str, _TempToken] = {}
        self._sessions: dict[str, _Session] = {}
        self._by_refresh: dict[str, str] = {}  # live refresh token -> session id
        self._retired: set[str] = set()  # refresh tokens replaced by a rotation

    # -- counters and faults -------------------------------------------------------------

    def count_call(self, endpoint: str) -> FaultPlan:
        """Count a call to ``endpoint`` and take the first fault planned for it.

        Faults that replace the answer (``fail``, ``hostile``) come before ``drop``.
        """
        with self.lock:
            self.calls[endpoint] += 1
            if (fault := self._take_fault("fail", endpoint)) is not None:
                return FaultPlan(fail_status=fault.status)
            if (fault := self._take_fault("hostile", endpoint)) is not None:
                return FaultPlan(hostile=fault.variant)
            return FaultPlan(drop=self._take_fault("drop", endpoint) is not None)

    def _take_fault(self, kind: FaultKind, endpoint: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.endpoint in (None, endpoint):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def add_fault(
        self,
        kind: FaultKind,
        count: int,
        endpoint: str | None,
        *,
        status: int = 0,
        variant: str = "",
    ) -> None:
        """Plan ``count`` faults of ``kind`` (after the ones already planned)."""
        with self.lock:
            self._faults.append(_Fault(kind, count, endpoint, status, variant))

    def clear_faults(self) -> None:
        """Forget every planned fault."""
        with self.lock:
            self._faults.clear()

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
        self, *, partner: str, consumer: str, domain: str | None, redirect_url: str
    ) -> LoginAttempt:
        """Record a login form just shown; it lives ``login_page_ttl`` seconds."""
        attempt = LoginAttempt(
            attempt_id=_new_secret(),
            partner=partner,
            consumer=consumer,
            domain=domain,
            redirect_url=redirect_url,
            expires_at=self.clock() + self.config.login_page_ttl,
        )
        with self.lock:
            self._attempts[attempt.attempt_id] = attempt
        return attempt

    def _live_attempt(self, attempt_id: str) -> LoginAttempt:
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            raise Reject(400, INVALID_LOGIN_ATTEMPT, "this sign-in page is unknown or was used")
        if self.clock() >= attempt.expires_at:
            del self._attempts[attempt_id]
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
            del self._attempts[attempt_id]
            token = self._issue_temp_token(attempt.partner, username, attempt.domain)
        return attempt, token

    # -- tokens --------------------------------------------------------------------------

    def _issue_temp_token(self, partner: str, username: str, domain: str | None) -> str:
        token = _new_secret()
        expires_at = self.clock() + self.config.temp_token_ttl
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
            record = self._temp_tokens.pop(token, None)
            if record is None or record.partner != partner:
                raise unauthorized(INVALID_TEMPORAL_TOKEN, "the temporal token is not valid")
            if self.clock() >= record.expires_at:
                raise unauthorized(EXPIRED_TEMPORAL_TOKEN, "the temporal token expired")
            return self._open_session(partner, record.username, record.domain)

    def open_session(self, partner: str, username: str, domain: str | None) -> SessionInfo:
        """A new session for a user authenticated directly (``raapi`` login)."""
        with self.lock:
            return self._open_session(partner, username, domain)

    def _open_session(self, partner: str, username: str, domain: str | None) -> SessionInfo:
        now = self.clock()
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
        return session.info()

    def refresh(self, partner: str, token: str, *, bearer_session: str | None) -> SessionInfo:
        """Refresh the session of ``token``; rotate it when the config says so.

        ``bearer_session`` (the tutorial shape) must name the same session as the token.
        A rotated-out token presented again counts ``calls["refresh_reuse"]``.
        """
        with self.lock:
            session_id = self._by_refresh.get(token)
            session = self._sessions.get(session_id) if session_id else None
            if session is None or session.partner != partner:
                if token in self._retired:
                    self.calls[REFRESH_REUSE] += 1
                raise unauthorized(INVALID_REFRESH_TOKEN, "the refresh token is not valid")
            if bearer_session is not None and bearer_session != session.session_id:
                raise unauthorized(INVALID_BEARER, "the bearer belongs to another session")
            now = self.clock()
            if now >= session.refresh_expires_at:
                raise unauthorized(EXPIRED_REFRESH_TOKEN, "the refresh token expired")
            if self.config.rotate_refresh_tokens:
                del self._by_refresh[token]
                self._retired.add(token)
                session.refresh_token = _new_secret()
                session.refresh_expires_at = now + self.config.refresh_token_ttl
                self._by_refresh[session.refresh_token] = session.session_id
            session.refreshes += 1
            return session.info()

    def end_session(self, session_id: str) -> None:
        """End a session (logout): its refresh token stops working. Idempotent."""
        with self.lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._end(session)

    def _end(self, session: _Session) -> None:
        session.active = False
        self._by_refresh.pop(session.refresh_token, None)

    # -- test helpers --------------------------------------------------------------------

    def revoke(self, username: str) -> int:
        """End every active session of ``username``; the number ended."""
        with self.lock:
            ended = [s for s in self._sessions.values() if s.username == username and s.active]
            for session in ended:
                self._end(session)
            return len(ended)

    def expire_session(self, refresh_token: str) -> bool:
        """Make a live refresh token expired (as if ``refresh_token_ttl`` had passed)."""
        with self.lock:
            session_id = self._by_refresh.get(refresh_token)
            if session_id is None:
                return False
            self._sessions[session_id].refresh_expires_at = self.clock()
            return True

    def sessions_for(self, username: str) -> list[SessionInfo]:
        """Snapshots of every session of ``username``, oldest first."""
        with self.lock:
            return [s.info() for s in self._sessions.values() if s.username == username]
