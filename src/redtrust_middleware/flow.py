"""The login flow without I/O: the signed redirect, pending logins, ``next``, the callback.

Redtrust has no ``state`` parameter, so the library binds each callback to the browser that
started the login itself: a random single-use nonce kept server-side (the pending login) and
listed in an HttpOnly cookie of that browser, and, when the registered redirect URL allows a
query, echoed in ``RedirectUrl`` as ``state``. These functions decide; the session layer
stores and sends.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from .config import RedtrustConfig
from .exceptions import InvalidCallbackError, LoginExpiredError
from .signing import signed_stamp
from .tokens import TokenSet

__all__ = [
    "CallbackParams",
    "Freshness",
    "PendingLogin",
    "build_login_url",
    "freshness",
    "login_redirect_url",
    "new_handle",
    "parse_callback",
    "parse_nonce_cookie",
    "pick_pending",
    "validate_next",
]

#: Query parameter that carries the temporary token back (set by Redtrust).
TOKEN_PARAM = "tkn"
#: Query parameter that carries the login nonce back (set by us in ``RedirectUrl``).
STATE_PARAM = "state"
MAX_TOKEN_LENGTH = 1024
MAX_QUERY_LENGTH = 4096
MAX_NEXT_LENGTH = 2048
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]+")
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")
# Characters never allowed anywhere in ``next``: controls, whitespace, backslash.
_BAD_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def new_handle() -> str:
    """A fresh 256-bit random handle (session id or login nonce), URL- and cookie-safe."""
    return secrets.token_urlsafe(32)


def is_temp_token(value: str) -> bool:
    """True when ``value`` fits the length cap and the allow-listed charset of a ``tkn``."""
    return 0 < len(value) <= MAX_TOKEN_LENGTH and bool(_TOKEN_CHARS.fullmatch(value))


def is_handle(value: str) -> bool:
    """True when ``value`` has the exact shape of a handle made by :func:`new_handle`."""
    return bool(_HANDLE.fullmatch(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingLogin:
    """A login that was started and awaits its callback. The nonce is its store key."""

    nonce: str = field(repr=False)
    next_url: str
    created_at: float

    def to_json(self) -> bytes:
        """Serialise (the nonce is not stored inside: it is the key)."""
        return json.dumps({"next": self.next_url, "created": self.created_at}).encode()

    @classmethod
    def from_json(cls, nonce: str, raw: bytes) -> PendingLogin | None:
        """Read a stored record; None when it is not one."""
        try:
            data = json.loads(raw)
            next_url, created = data["next"], data["created"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(next_url, str) or not isinstance(created, int | float):
            return None
        return cls(nonce=nonce, next_url=next_url, created_at=float(created))


def validate_next(value: str | None, config: RedtrustConfig) -> str:
    """Return ``value`` when it is a safe place to send the user after sign-in, else the default.

    Safe means a local path (one ``/`` not followed by ``/`` or ``\\``) or an absolute URL on
    a configured https origin; no control characters, whitespace, backslashes or non-ASCII.
    A safe value is returned byte for byte (queries and percent-escapes survive).
    """
    default = config.default_next
    if not value or len(value) > MAX_NEXT_LENGTH or not value.isascii():
        return default
    if _BAD_NEXT.search(value):
        return default
    if value.startswith("/"):
        return default if value.startswith("//") else value
    if not config.allowed_next_origins:
        return default
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return default
    try:
        port = parts.port or 443
    except ValueError:
        return default
    for origin in config.allowed_next_origins:
        allowed = urlsplit(origin)
        if allowed.hostname == parts.hostname and (allowed.port or 443) == port:
            return value
    return default


def login_redirect_url(config: RedtrustConfig, callback_url: str, nonce: str) -> str:
    """The ``RedirectUrl`` to register for this login: the callback, plus ``state`` when enabled.

    It ends with ``tkn=`` so that Redtrust appends the temporary token (the documented
    example's shape).
    """
    if not config.nonce_in_redirect:
        return callback_url
    separator = "&" if "?" in callback_url else "?"
    return f"{callback_url}{separator}{STATE_PARAM}={nonce}&{TOKEN_PARAM}="


def build_login_url(config: RedtrustConfig, *, redirect_url: str, now: float) -> str:
    """The signed ``loginrequest`` URL, with a timestamp taken from ``now`` (never cached)."""
    stamp = signed_stamp(config.partner, config.shared_secret, now)
    params: list[tuple[str, str]] = [("Consumer", config.consumer)]
    if config.domain is not None:
        params.append(("Domain", config.domain))
    params += [
        ("RedirectUrl", redirect_url),
        ("timestamp", str(stamp.timestamp)),
        ("partner", stamp.partner),
        ("hmac", stamp.signature),
    ]
    query = urlencode(params, quote_via=quote, safe="")
    return f"{config.server_url}/authclient/auth/loginrequest?{query}"


def parse_nonce_cookie(value: str | None, limit: int) -> list[str]:
    """The well-formed nonces of the pending-login cookie, oldest first, at most ``limit``."""
    if not value:
        return []
    nonces = [n for n in value.split(".") if is_handle(n)]
    return nonces[-limit:]


def nonce_cookie_value(nonces: Sequence[str]) -> str:
    """The cookie value listing ``nonces`` (oldest first)."""
    return ".".join(nonces)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackParams:
    """What a callback carried: the temporary token and, when echoed, the login nonce."""

    temp_token: str = field(repr=False)
    nonce: str | None = field(repr=False)


def _single(values: dict[str, list[str]], name: str, *, required: bool) -> str | None:
    found = values.get(name, [])
    if len(found) > 1:
        raise InvalidCallbackError(f"'{name}' appears more than once", code="DUPLICATE_PARAM")
    if not found:
        if required:
            raise InvalidCallbackError(f"'{name}' is missing", code="MISSING_PARAM")
        return None
    if not found[0]:
        raise InvalidCallbackError(f"'{name}' is empty", code="EMPTY_PARAM")
    return found[0]


def parse_callback(query: bytes | str, *, expect_nonce: bool) -> CallbackParams:
    """Validate the callback's raw query string.

    Length is checked before anything else; every value of every parameter is read (so
    ``?tkn=a&tkn=b`` is refused whichever one a framework would pick); a parameter whose name
    differs from ``tkn`` only by case is refused; the token must fit an allow-listed charset.

    Raises:
        InvalidCallbackError: with a code naming the problem. Values are never echoed.
    """
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidCallbackError("the callback query is too long", code="OVERSIZED")
    try:
        text = query.decode("ascii") if isinstance(query, bytes) else query
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=16)
    except (UnicodeError, ValueError):
        raise InvalidCallbackError("the callback query is malformed", code="MALFORMED") from None
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.lower() in (TOKEN_PARAM, STATE_PARAM) and name not in (TOKEN_PARAM, STATE_PARAM):
            raise InvalidCallbackError(
                f"unexpected parameter '{name.lower()}' variant", code="MALFORMED"
            )
        values.setdefault(name, []).append(value)
    token = _single(values, TOKEN_PARAM, required=True) or ""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidCallbackError("'tkn' is too long", code="OVERSIZED")
    if not _TOKEN_CHARS.fullmatch(token):
        raise InvalidCallbackError("'tkn' has characters a token cannot have", code="MALFORMED")
    nonce = _single(values, STATE_PARAM, required=expect_nonce)
    if nonce is not None and not is_handle(nonce):
        raise InvalidCallbackError("'state' is malformed", code="MALFORMED")
    return CallbackParams(temp_token=token, nonce=nonce)


def pick_pending(params: CallbackParams, browser_nonces: Sequence[str]) -> str:
    """The pending-login nonce this callback may complete, bound to this browser.

    Raises:
        LoginExpiredError: the browser started no login, or not this one (login CSRF).
    """
    if not browser_nonces:
        raise LoginExpiredError(
            "no sign-in was started in this browser, or it expired", code="NO_PENDING_LOGIN"
        )
    if params.nonce is None:
        return browser_nonces[-1]
    if params.nonce not in browser_nonces:
        raise LoginExpiredError(
            "this sign-in was not started in this browser", code="FOREIGN_LOGIN"
        )
    return params.nonce


class Freshness(enum.Enum):
    """How usable an access token is right now."""

    FRESH = "fresh"  # use it as it is
    DUE = "due"  # still valid, but refresh now (serve the old one if refresh fails briefly)
    EXPIRED = "expired"  # must be refreshed before use


def freshness(tokens: TokenSet, now: float, leeway: float) -> Freshness:
    """Classify ``tokens`` at ``now`` with the refresh ``leeway``."""
    remaining = tokens.expires_in(now)
    if remaining <= 0:
        return Freshness.EXPIRED
    return Freshness.DUE if remaining <= leeway else Freshness.FRESH
