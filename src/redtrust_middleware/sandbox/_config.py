"""The sandbox's settings: partners, users, redirect prefixes, lifetimes and formats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError
from ._signature import PARTNER_NAME

__all__ = ["ExpirationFormat", "SandboxConfig"]

#: How the ``expiration`` field of token data is rendered (see :class:`SandboxConfig`).
ExpirationFormat = Literal["utc-z", "naive-utc", "offset"]

#: The table caps of :class:`SandboxConfig` (each an int >= 1).
_LIMITS = (
    "max_login_attempts",
    "max_attempts_per_link",
    "max_temp_tokens",
    "max_sessions",
    "max_retired_refresh_tokens",
    "max_csr_requests",
    "max_csr_requests_per_user",
    "max_certificates",
    "max_certificates_per_user",
)

# Printable ASCII without space: what a registered redirect URL may be made of.
_URL_CHARS = re.compile(r"[\x21-\x7e]+")


def _check_positive(name: str, value: object, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(name, f"must be an int >= {minimum}")


def _check_credentials(name: str, value: object, *, key_pattern: re.Pattern[str] | None) -> None:
    if not isinstance(value, Mapping):
        raise ConfigurationError(name, "must be a mapping of names to secrets")
    for key, secret in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError(name, "every name must be a non-empty string")
        if key_pattern is not None and not key_pattern.fullmatch(key):
            raise ConfigurationError(name, "names must be upper case letters, digits and '_'")
        if not isinstance(secret, str) or not secret:
            raise ConfigurationError(name, "every secret must be a non-empty string")


def _check_prefix(prefix: object) -> None:
    """A prefix must pin the whole origin: ``https://app.example`` would also match
    ``https://app.example.evil.test/``, so the authority has to be closed by ``/`` or ``?``."""
    field = "redirect_prefixes"
    if not isinstance(prefix, str) or not _URL_CHARS.fullmatch(prefix):
        raise ConfigurationError(field, "every prefix must be printable ASCII without spaces")
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(field, "every prefix must be an absolute http(s) URL")
    if parts.username is not None or parts.fragment or "#" in prefix:
        raise ConfigurationError(field, "prefixes must not carry user info or a fragment")
    rest = prefix[len(parts.scheme) + 3 + len(parts.netloc) :]
    if not rest.startswith(("/", "?")):
        raise ConfigurationError(
            field, "every prefix must end its host with '/' or '?' (e.g. https://app.example/)"
        )


def _domain_set(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, AbstractSet) or not all(isinstance(d, str) and d for d in value):
        raise ConfigurationError("domains", "must be a set of non-empty strings or None")
    return frozenset(value)


def _prefix_tuple(value: object) -> tuple[str, ...]:
    if not isinstance(value, tuple | list) or not value:
        raise ConfigurationError("redirect_prefixes", "must be a non-empty tuple of URLs")
    for prefix in value:
        _check_prefix(prefix)
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SandboxConfig:
    """Everything the sandbox accepts; validated at construction.

    Attributes:
        partners: partner name (``[A-Z0-9_]+``) to shared HMAC secret. Never shown in a repr.
        users: user name to password for the login page and the direct login. Redacted in a
            repr.
        domains: accepted ``Domain`` values; ``None`` accepts any domain, or none.
        redirect_prefixes: a ``RedirectUrl`` must start with one of these (each pins an origin:
            it must close the host with ``/`` or ``?``).
        window_seconds: accepted distance of a signed timestamp from the sandbox clock.
        strict_signatures: ask for the three HMAC headers on every token and RA API call.
            Off (the default), each endpoint asks for what Redtrust's docs say: the
            tutorial's ``/authapi/...`` calls are signed, the RA API's login and refresh need
            nothing, its logout and ``csr/*`` only a bearer; HMAC headers sent anyway are
            checked all the same.
        access_token_ttl: lifetime of an access token (JWT ``exp`` - ``iat``), seconds.
        refreshed_access_token_ttl: lifetime of an access token issued by a refresh, seconds;
            ``None`` (the default) uses ``access_token_ttl``. Lets a test start with a token
            that is due for refresh at once and get a fresh one from the refresh.
        refresh_token_ttl: lifetime of a refresh token from its issue, seconds.
        temp_token_ttl: lifetime of a temporary ``tkn``, seconds.
        login_page_ttl: lifetime of a login attempt (the form shown by ``loginrequest``).
        expiration_format: how ``expiration`` is rendered: ``utc-z``
            (``2026-11-29T05:00:00Z``), ``naive-utc`` (``2026-11-29T05:00:00``) or ``offset``
            (``2026-11-29T06:00:00+01:00``, a fixed +01:00 offset).
        issuer: the JWT ``iss`` claim.
        max_body_bytes: larger request bodies are answered with 413.
        rotate_refresh_tokens: a refresh returns a new refresh token and retires the old one;
            when off, the same refresh token is returned again.
        retention_seconds: how long a record that stopped working is still remembered: an
            expired sign-in page or temporary token (so it is answered ``EXPIRED_...`` rather
            than ``INVALID_...``), an ended (logged out, revoked) or expired session (shown by
            :meth:`Sandbox.sessions_for`; an expired refresh token answers
            ``EXPIRED_REFRESH_TOKEN``). A rotated-out refresh token is remembered for
            ``refresh_token_ttl + retention_seconds`` after its rotation (``refresh_reuse``).
            Then the record is forgotten and answered like an unknown one.
        max_login_attempts: at most this many sign-in pages are remembered; the oldest go
            first.
        max_attempts_per_link: at most this many unexpired, unused sign-in pages may be open
            from one signed login link (``partner`` + ``timestamp``); more are answered 429
            ``TOO_MANY_LOGIN_ATTEMPTS`` (a replayed link cannot flood the sandbox).
        max_temp_tokens: at most this many temporary tokens are remembered; the oldest go first.
        max_sessions: at most this many sessions are remembered; ended and expired sessions
            go first (the longest ended first), then the oldest running ones.
        max_retired_refresh_tokens: at most this many rotated-out refresh tokens are
            remembered for reuse detection; the oldest go first.
        csr_request_ttl: how long a ``csr/create`` request (and its private key) waits for its
            ``csr/finalize``, seconds; then its code is unknown.
        max_csr_requests: at most this many pending requests are kept (the oldest go first),
            and as many finalized request codes are remembered (``REQUEST_CODE_USED``).
        max_csr_requests_per_user: at most this many pending requests per user; the user's
            oldest goes first.
        max_certificates: at most this many certificates are kept; the oldest go first.
        max_certificates_per_user: at most this many certificates per user; the user's oldest
            goes first.
    """

    partners: Mapping[str, str]
    users: Mapping[str, str]
    domains: AbstractSet[str] | None = None
    redirect_prefixes: tuple[str, ...]
    window_seconds: int = 300
    strict_signatures: bool = False
    access_token_ttl: int = 300
    refreshed_access_token_ttl: int | None = None
    refresh_token_ttl: int = 8 * 3600
    temp_token_ttl: int = 60
    login_page_ttl: int = 600
    expiration_format: ExpirationFormat = "utc-z"
    issuer: str = "redtrust-sandbox"
    max_body_bytes: int = 64 * 1024
    rotate_refresh_tokens: bool = True
    retention_seconds: int = 3600
    max_login_attempts: int = 10_000
    max_attempts_per_link: int = 10
    max_temp_tokens: int = 10_000
    max_sessions: int = 100_000
    max_retired_refresh_tokens: int = 100_000
    csr_request_ttl: int = 3600
    max_csr_requests: int = 10_000
    max_csr_requests_per_user: int = 20
    max_certificates: int = 10_000
    max_certificates_per_user: int = 100

    def __post_init__(self) -> None:
        _check_credentials("partners", self.partners, key_pattern=PARTNER_NAME)
        if not self.partners:
            raise ConfigurationError("partners", "at least one partner is required")
        _check_credentials("users", self.users, key_pattern=None)
        # Private read-only copies: a caller mutating its dict cannot change a running sandbox.
        object.__setattr__(self, "partners", MappingProxyType(dict(self.partners)))
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))
        object.__setattr__(self, "domains", _domain_set(self.domains))
        object.__setattr__(self, "redirect_prefixes", _prefix_tuple(self.redirect_prefixes))
        _check_positive("window_seconds", self.window_seconds, minimum=0)
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "temp_token_ttl",
            "login_page_ttl",
            "csr_request_ttl",
        ):
            _check_positive(name, getattr(self, name))
        if self.refreshed_access_token_ttl is not None:
            _check_positive("refreshed_access_token_ttl", self.refreshed_access_token_ttl)
        _check_positive("max_body_bytes", self.max_body_bytes)
        _check_positive("retention_seconds", self.retention_seconds, minimum=0)
        for name in _LIMITS:
            _check_positive(name, getattr(self, name))
        if self.expiration_format not in get_args(ExpirationFormat):
            raise ConfigurationError(
                "expiration_format", f"must be one of {', '.join(get_args(ExpirationFormat))}"
            )
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigurationError("issuer", "must be a non-empty string")
        for flag in ("strict_signatures", "rotate_refresh_tokens"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigurationError(flag, "must be a bool")

    def __repr__(self) -> str:
        partners = ", ".join(f"{name!r}: '***'" for name in sorted(self.partners))
        users = ", ".join(f"{name!r}: '***'" for name in sorted(self.users))
        limits = ", ".join(f"{name}={getattr(self, name)}" for name in _LIMITS)
        return (
            f"SandboxConfig(partners={{{partners}}}, users={{{users}}}, "
            f"domains={self.domains!r}, redirect_prefixes={self.redirect_prefixes!r}, "
            f"window_seconds={self.window_seconds}, "
            f"strict_signatures={self.strict_signatures}, "
            f"access_token_ttl={self.access_token_ttl}, "
            f"refreshed_access_token_ttl={self.refreshed_access_token_ttl}, "
            f"refresh_token_ttl={self.refresh_token_ttl}, temp_token_ttl={self.temp_token_ttl}, "
            f"login_page_ttl={self.login_page_ttl}, csr_request_ttl={self.csr_request_ttl}, "
            f"expiration_format={self.expiration_format!r}, issuer={self.issuer!r}, "
            f"max_body_bytes={self.max_body_bytes}, "
            f"rotate_refresh_tokens={self.rotate_refresh_tokens}, "
            f"retention_seconds={self.retention_seconds}, {limits})"
        )

    __str__ = __repr__
