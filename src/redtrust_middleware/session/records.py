"""What the store keeps for a session, and how its records are named, sealed and aged.

Browsers only ever hold the session handle; the store keeps records under a hash of it
(and of nonces and refresh tokens), sealed with AES-GCM bound to their key (see
:mod:`redtrust_middleware.stores.sealing`), so a store dump reveals no handle and no token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._clock import Clock, to_datetime
from ..config import RedtrustConfig
from ..exceptions import TokenError
from ..logevents import log
from ..stores import Keyring
from ..tokens import MAX_TOKEN_LENGTH, TokenSet, parse_expiration
from .effects import Flow, Get, Put, ReplaceIf

__all__ = [
    "RECORD_V1",
    "ActiveSession",
    "LoginDone",
    "LoginStart",
    "Records",
    "SessionRecord",
    "digest",
    "session_tag",
]

logger = logging.getLogger("redtrust_middleware.session")

#: The first byte of a record in the binary format (a JSON record starts with ``{``).
RECORD_V1 = 0x01
# After the version byte: expires at, created at, seen at (float64 UNIX seconds), then the
# byte lengths of the access token, the refresh token (_NO_REFRESH: none) and the claims'
# JSON; the three follow in that order.
_V1 = struct.Struct("<dddIII")
_V1_HEAD = 1 + _V1.size
_NO_REFRESH = 0xFFFFFFFF
_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})
#: Times outside (0, this) are refused (NaN and infinities fail the comparison too).
_LATEST = 1e11


class _StoredClaims(Mapping[str, Any]):
    """The claims of an opened record, parsed from their JSON on first use.

    Most requests never read the claims, and parsing them is most of the cost of opening a
    record, so it waits until they are read (the record was sealed by us, so the JSON is
    ours: the bytes are checked to be an object, and anything else reads as no claims).
    Read-only, like the claims of a fresh sign-in. Two threads reading them first at once
    both parse the same bytes; either result is kept.
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._parsed: Mapping[str, Any] | None = None

    def _claims(self) -> Mapping[str, Any]:
        parsed = self._parsed
        if parsed is None:
            try:
                value = json.loads(self._raw)
            except (ValueError, RecursionError):
                value = None
            parsed = MappingProxyType(value if isinstance(value, dict) else {})
            self._parsed = parsed
        return parsed

    def __getitem__(self, key: str) -> Any:
        return self._claims()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The claim ``key``, or ``default`` (one call: apps read ``sub`` on every request)."""
        parsed = self._parsed
        return (parsed if parsed is not None else self._claims()).get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __len__(self) -> int:
        return len(self._claims())

    def __repr__(self) -> str:
        # Claims name the user: never printed whole, like the tokens they come from.
        return f"<claims, {len(self._raw)} bytes>"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """What the store keeps for one signed-in user (sealed)."""

    tokens: TokenSet
    created_at: float
    seen_at: float

    def encode(self) -> bytes:
        """Serialise for sealing, in the binary format (:data:`RECORD_V1`).

        A version byte, the three times as float64 and the lengths of the two tokens and the
        claims, then those: opening it is a ``struct`` unpack and two slices, with no date-time
        or token parsing; the claims' JSON is parsed when they are first read.
        """
        t = self.tokens
        access = t.access_token.encode()
        refresh = None if t.refresh_token is None else t.refresh_token.encode()
        claims = json.dumps(dict(t.claims), separators=(",", ":")).encode() if t.claims else b""
        head = _V1.pack(
            t.expires_at.timestamp(),
            self.created_at,
            self.seen_at,
            len(access),
            _NO_REFRESH if refresh is None else len(refresh),
            len(claims),
        )
        return b"".join((bytes((RECORD_V1,)), head, access, refresh or b"", claims))

    @classmethod
    def decode(cls, raw: bytes) -> SessionRecord | None:
        """Read a record in either format (binary, or the JSON written before it); None when
        it is not a well-formed one."""
        if raw[:1] == b"{":
            return cls.from_json(raw)
        if raw[:1] != bytes((RECORD_V1,)) or len(raw) < _V1_HEAD:
            return None
        expires, created, seen, n_access, n_refresh, n_claims = _V1.unpack_from(raw, 1)
        has_refresh = n_refresh != _NO_REFRESH
        end_access = _V1_HEAD + n_access
        end_refresh = end_access + (n_refresh if has_refresh else 0)
        if (
            end_refresh + n_claims != len(raw)
            or not 0 < n_access <= MAX_TOKEN_LENGTH
            or not (0 < expires < _LATEST and 0 < created < _LATEST and 0 < seen < _LATEST)
        ):
            return None
        claims: Mapping[str, Any] = _NO_CLAIMS
        if n_claims:
            if raw[end_refresh] != 0x7B or raw[-1] != 0x7D:  # not {...}
                return None
            claims = _StoredClaims(raw[end_refresh:])
        try:
            access = raw[_V1_HEAD:end_access].decode()
            refresh = raw[end_access:end_refresh].decode() if has_refresh else None
        except UnicodeDecodeError:
            return None
        tokens = TokenSet(
            access_token=access,
            refresh_token=refresh,
            expires_at=to_datetime(expires),
            claims=claims,
        )
        return cls(tokens=tokens, created_at=created, seen_at=seen)

    def to_json(self) -> bytes:
        """Serialise in the JSON format records were written in before :meth:`encode`
        (still read by :meth:`decode`, so no session is lost on upgrade)."""
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
        """Read a record in the JSON format; None when it is not a well-formed one."""
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


def digest(value: str) -> str:
    """The hash a secret value is known by in keys and memos."""
    return hashlib.sha256(value.encode()).hexdigest()


def session_tag(handle: str) -> str:
    """How logs and telemetry name a session: 16 hex digits of a labelled hash of its handle.

    Stable, so one session's events can be followed; labelled, so it is not the store key
    (:func:`digest`) and a log line cannot point at a record; short, because it only has to
    tell sessions apart, never to prove anything.
    """
    return hashlib.sha256(b"redtrust-session-tag\0" + handle.encode()).hexdigest()[:16]


class Records:
    """The naming, sealing and lifetime rules of the store's records (pure, no I/O)."""

    #: Namespaces whose records belong to one browser (its session, its pending logins);
    #: a face with its own per-browser session (Django) keeps them there.
    BROWSER_NAMESPACES = ("session", "pending")

    def __init__(
        self, config: RedtrustConfig, keyring: Keyring, clock: Clock, *, prefix: str = "redtrust"
    ) -> None:
        self.config = config
        self.keyring = keyring
        self.clock = clock
        self.prefix = prefix
        self._told_short_lifetime = False

    def received(self, tokens: TokenSet, now: float) -> None:
        """Note tokens just received from Redtrust (sign-in or refresh) at ``now``: warn, once,
        when they live no longer than ``refresh_leeway``, as each request then refreshes."""
        if self._told_short_lifetime:
            return
        lifetime, leeway = tokens.expires_in(now), self.config.refresh_leeway
        if lifetime <= leeway:
            self._told_short_lifetime = True
            log(
                logger,
                "redtrust.config.short_token_lifetime",
                "redtrust: access tokens live %.0f s, not more than refresh_leeway "
                "(REDTRUST_REFRESH_LEEWAY) of %g s, so every request refreshes them: raise the "
                "token lifetime on Redtrust (the sandbox's --access-ttl) or set "
                "REDTRUST_REFRESH_LEEWAY below %.0f",
                lifetime,
                leeway,
                lifetime,
            )

    @classmethod
    def is_browser_record(cls, key: str) -> bool:
        """True for a key in one of :attr:`BROWSER_NAMESPACES`."""
        parts = key.rsplit(":", 2)
        return len(parts) == 3 and parts[1] in cls.BROWSER_NAMESPACES

    # keys: hashes, so a store dump reveals no handle, nonce or refresh token
    def session_key(self, handle: str) -> str:
        """Where the session of ``handle`` is kept."""
        return f"{self.prefix}:session:{digest(handle)}"

    def pending_key(self, nonce: str) -> str:
        """Where the pending login of ``nonce`` is kept."""
        return f"{self.prefix}:pending:{digest(nonce)}"

    def lock_key(self, handle: str) -> str:
        """The store lock of refreshes of ``handle``'s session."""
        return f"{self.prefix}:lock:{digest(handle)}"

    def grace_key(self, refresh_token: str) -> str:
        """The grace record of a rotated ``refresh_token`` (its replacement token set)."""
        return f"{self.prefix}:grace:{digest(refresh_token)}"

    def spent_key(self, refresh_token: str) -> str:
        """The mark of a ``refresh_token`` that must never be presented again."""
        return f"{self.prefix}:spent:{digest(refresh_token)}"

    # sealing
    def seal(self, key: str, raw: bytes) -> bytes:
        """Seal ``raw`` for storage under ``key`` (and only there)."""
        return self.keyring.seal(raw, context=key)

    def open_record(self, key: str, blob: bytes | None) -> SessionRecord | None:
        """The record sealed in ``blob`` under ``key``; None when absent or unreadable."""
        raw = None if blob is None else self.keyring.open(blob, context=key)
        return None if raw is None else SessionRecord.decode(raw)

    def read(self, key: str) -> Flow[tuple[bytes | None, SessionRecord | None]]:
        """Read ``key``: the bytes read and the record in them."""
        blob = yield Get(key)
        return blob, self.open_record(key, blob)

    # lifetimes
    def alive(self, record: SessionRecord, now: float) -> bool:
        """True while the session is within both its idle and its absolute timeout."""
        return (
            now - record.seen_at < self.config.idle_timeout
            and now - record.created_at < self.config.absolute_timeout
        )

    def ttl(self, record: SessionRecord, now: float) -> float:
        """How long the store keeps ``record`` when written ``now``."""
        left = self.config.absolute_timeout - (now - record.created_at)
        return max(1.0, min(self.config.idle_timeout, left))

    def put(self, key: str, record: SessionRecord, now: float) -> Put:
        """Write ``record`` under ``key``."""
        return Put(key, self.seal(key, record.encode()), self.ttl(record, now))

    def swap(self, key: str, blob: bytes, record: SessionRecord, now: float) -> ReplaceIf:
        """Write ``record`` under ``key`` only while it still holds ``blob`` (as read)."""
        return ReplaceIf(key, blob, self.seal(key, record.encode()), self.ttl(record, now))

    @staticmethod
    def active(handle: str, record: SessionRecord, *, refreshed: bool) -> ActiveSession:
        """The session to serve from ``record``."""
        return ActiveSession(
            handle=handle, tokens=record.tokens, created_at=record.created_at, refreshed=refreshed
        )
