"""The login protocol without I/O: the signed redirect, pending logins, ``next``, the callback.

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
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlencode, urlsplit

from .exceptions import InvalidCallbackError, LoginExpiredError
from .signing import signed_stamp
from .tokens import TokenSet

if TYPE_CHECKING:
    from .config import RedtrustConfig

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
_HANDLE_LENGTH = 43  # token_urlsafe(32): 256 bits
_HANDLE_ALPHABET = string.ascii_letters + string.digits + "-_"
# Characters never allowed anywhere in ``next``: controls, whitespace, backslash.
_BAD_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def new_handle() -> str:
    """A fresh 256-bit random handle (session id or login nonce), URL- and cookie-safe."""
    return secrets.token_urlsafe(32)


def is_temp_token(value: str) -> bool:
    """True when ``value`` fits the length cap and the allow-listed charset of a ``tkn``.

    Path-like values (``..``, a leading ``.`` or ``/``) are refused although their characters
    are allowed one by one: no token needs them, and they hint at probing.
    """
    return (
        0 < len(value) <= MAX_TOKEN_LENGTH
        and bool(_TOKEN_CHARS.fullmatch(value))
        and ".." not in value
        and value[0] not in "./"
    )


def is_handle(value: str) -> bool:
    """True when ``value`` has the exact shape of a handle made by :func:`new_handle`."""
    # strip() with the alphabet leaves nothing only when every character is in it.
    return len(value) == _HANDLE_LENGTH and not value.strip(_HANDLE_ALPHABET)


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


def is_local_path(value: str) -> bool:
    """True for a same-origin path: one ``/`` not followed by ``/`` or ``\\``, ASCII, and no
    control characters, whitespace or backslashes anywhere; at most 2 KiB."""
    return (
        0 < len(value) <= MAX_NEXT_LENGTH
        and value.isascii()
        and value.startswith("/")
        and not value.startswith("//")
        and not _BAD_NEXT.search(value)
    )


def validate_next(value: str | None, config: RedtrustConfig) -> str:
    """Return ``value`` when it is a safe place to send the user after sign-in, else the default.

    Safe means a local path (one ``/`` not followed by ``/`` or ``\\``) or an absolute URL on
    a configured https origin; no control characters, whitespace, backslashes or non-ASCII.
    A safe value is returned byte for byte (queries and percent-escapes survive). An absolute
    URL on ``public_url``'s own origin is this site: the part after the origin is returned.
    """
    default = config.default_next
    if not value or len(value) > MAX_NEXT_LENGTH or not value.isascii():
        return default
    if _BAD_NEXT.search(value):
        return default
    if value.startswith("/"):
        return value if is_local_path(value) else default
    own = _own_origin_path(value, config.public_url)
    if own is not None:
        return own
    if not config.allowed_next_origins:
        return default
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return default
    try:
        port = 443 if parts.port is None else parts.port
    except ValueError:
        return default
    for origin in config.allowed_next_origins:
        allowed = urlsplit(origin)
        allowed_port = 443 if allowed.port is None else allowed.port
        if allowed.hostname == parts.hostname and allowed_port == port:
            return value
    return default


def _own_origin_path(value: str, public_url: str | None) -> str | None:
    """What follows the origin in ``value`` (path, query, fragment) when it is an absolute
    URL on ``public_url``'s origin (scheme, host and port), else None.

    Frameworks that build ``next`` from the request's full URL (Starlette's
    ``requires(redirect=...)``) send the site's own pages that way; they are as safe as the
    local path they name, which then passes :func:`is_local_path` like any other.
    """
    if public_url is None:
        return None
    parts, own = urlsplit(value), urlsplit(public_url)
    defaults = {"http": 80, "https": 443}
    try:
        port, own_port = parts.port, own.port
    except ValueError:
        return None
    if (
        parts.scheme != own.scheme
        or parts.username is not None
        or parts.password is not None
        or parts.hostname is None
        or parts.hostname != own.hostname
        or (port or defaults.get(parts.scheme)) != (own_port or defaults.get(own.scheme))
    ):
        return None
    local = value[len(f"{parts.scheme}://{parts.netloc}") :] or "/"
    return local if is_local_path(local) else None


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
    return nonces[-limit:] if limit > 0 else []


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


def _query_pairs(text: str) -> list[tuple[str, str]]:
    """Split a query into decoded pairs, keeping ``+`` as ``+``.

    Redtrust appends the raw token to ``RedirectUrl``, so a ``+`` in it is a plus sign (as in
    base64), not a form-encoded space.
    """
    parts = [p for p in text.split("&") if p]
    if len(parts) > 16:
        raise ValueError("too many parameters")
    pairs = []
    for part in parts:
        name, _, value = part.partition("=")
        pairs.append((unquote(name, errors="strict"), unquote(value, errors="strict")))
    return pairs


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
        pairs = _query_pairs(text)
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
    if not is_temp_token(token):
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
