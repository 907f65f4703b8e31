"""The token set of one signed-in user, and how it is read from Redtrust's token data.

The access token is treated as opaque unless a JWK set is configured: its claims are read
(for display and as a fallback expiry) but trusted only after verification.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from ._clock import to_datetime
from .exceptions import TokenError

__all__ = ["TokenSet", "TokenVerifier", "parse_expiration", "read_claims"]

#: Larger access tokens are refused before any parsing (a JWT is a few KiB at most).
MAX_TOKEN_LENGTH = 16 * 1024
_EMPTY: Mapping[str, Any] = MappingProxyType({})
# RFC 6750 b64token: what may follow "Bearer " in an Authorization header.
_BEARER = re.compile(r"[A-Za-z0-9._~+/-]+=*")


def parse_expiration(value: object) -> datetime:
    """Read Redtrust's ``expiration``: ISO-8601 with or without zone (zone-less is UTC).

    Numbers are taken as UNIX seconds. Raises :class:`TokenError` for anything else.
    """
    if isinstance(value, bool):
        raise TokenError("expiration must be a date-time")
    if isinstance(value, int | float):
        # Compare before converting: a 400-digit JSON integer would overflow a float.
        if not 0 < value < 10**11 or (isinstance(value, float) and not math.isfinite(value)):
            raise TokenError("expiration is out of range")
        return to_datetime(float(value))
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise TokenError("expiration must be a date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise TokenError("expiration is not a usable ISO-8601 date-time") from None


def read_claims(token: str) -> Mapping[str, Any]:
    """The claims of a compact JWT, **unverified**; empty when the token is not a JWT."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return _EMPTY
    try:
        payload = extract_compact(token.encode("ascii")).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, UnicodeError, RecursionError):
        return _EMPTY
    return MappingProxyType(claims) if isinstance(claims, dict) else _EMPTY


#: The largest clock difference with Redtrust that is corrected for (the HMAC window).
MAX_CLOCK_SKEW = 300.0


def _server_now(server_now: float | None, claims: Mapping[str, Any], now: float) -> float | None:
    """Redtrust's "now" (its Date header, else the token's ``iat``), if it is plausible.

    A reference further than :data:`MAX_CLOCK_SKEW` from our clock is ignored: a stale
    ``Date`` or an ``iat`` kept from the original sign-in must not stretch a lifetime.
    """
    for candidate in (server_now, _number(claims.get("iat"))):
        if candidate is not None and abs(candidate - now) <= MAX_CLOCK_SKEW:
            return candidate
    return None


def _number(value: object) -> float | None:
    """A finite, plausible UNIX time, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < 10**11 else None


class TokenVerifier:
    """Verifies access tokens against a configured JWK set (threat 42).

    Algorithms are pinned (asymmetric only, so ``none`` and HS* cannot pass), keys come only
    from the configured set (never from the token's header) and ``exp`` is required.
    """

    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        algorithms: tuple[str, ...],
        issuer: str | None = None,
        leeway: int = 30,
    ) -> None:
        try:
            self._keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise TokenError(
                f"the configured JWK set is invalid ({type(error).__name__})"
            ) from None
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._leeway = leeway

    def verify(
        self, token: str, *, now: float, server_now: float | None = None
    ) -> Mapping[str, Any]:
        """Return the verified claims or raise :class:`TokenError`.

        Time claims are checked against Redtrust's clock (``server_now``, else the token's own
        ``iat``), so a skewed clock on either side does not reject a just-issued token.
        """
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("access token is too large")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=self._algorithms)
            reference = _server_now(server_now, decoded.claims, now)
            options: dict[str, Any] = {"exp": {"essential": True}}
            if self._issuer is not None:
                options["iss"] = {"essential": True, "value": self._issuer}
            registry = jwt.JWTClaimsRegistry(
                now=int(now if reference is None else reference), leeway=self._leeway, **options
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError, RecursionError) as error:
            raise TokenError(f"access token rejected ({type(error).__name__})") from None
        return MappingProxyType(decoded.claims)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSet:
    """An access token, its refresh token and when the access token expires.

    ``repr`` never shows either token.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime
    #: Claims of the access token (verified when a JWK set is configured, else only read).
    claims: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)
    _expires_ts: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        # Read on every request: convert once.
        object.__setattr__(self, "_expires_ts", self.expires_at.timestamp())

    def expires_in(self, now: float) -> float:
        """Seconds until the access token expires (negative once expired)."""
        return self._expires_ts - now

    def is_expired(self, now: float) -> bool:
        """True once the access token can no longer be used."""
        return self.expires_in(now) <= 0

    def needs_refresh(self, now: float, leeway: float) -> bool:
        """True when the access token expires within ``leeway`` seconds."""
        return self.expires_in(now) <= leeway

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim, when the access token is a JWT that has one."""
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else None

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        now: float,
        previous_refresh_token: str | None = None,
        verifier: TokenVerifier | None = None,
        server_now: float | None = None,
    ) -> TokenSet:
        """Build from the ``data`` of an exchange, refresh or login response.

        The expiry is the earlier of ``expiration`` and the JWT ``exp`` (so a token is never
        used past what it says itself); either alone is enough. Both are on Redtrust's clock,
        so the remaining lifetime is measured from Redtrust's "now" (``server_now``, from the
        ``Date`` header, else the token's ``iat``) and carried over to ours: clock skew
        between the two servers shifts nothing. A response without a new refresh token keeps
        ``previous_refresh_token``.

        Raises:
            TokenError: a field is missing or of the wrong type, the expiry cannot be read or
                lies in the past, or verification fails.
        """
        access = data.get("accessToken")
        if not isinstance(access, str) or not access or len(access) > MAX_TOKEN_LENGTH:
            raise TokenError("accessToken is missing or invalid")
        if not _BEARER.fullmatch(access):
            raise TokenError("accessToken has characters a bearer token cannot carry")
        refresh = data.get("refreshToken", None)
        if refresh is None or refresh == "":
            refresh = previous_refresh_token
        elif not isinstance(refresh, str) or len(refresh) > MAX_TOKEN_LENGTH:
            raise TokenError("refreshToken is invalid")
        claims = (
            verifier.verify(access, now=now, server_now=server_now)
            if verifier
            else read_claims(access)
        )
        candidates: list[datetime] = []
        if data.get("expiration") is not None:
            try:
                candidates.append(parse_expiration(data["expiration"]))
            except TokenError:
                if "exp" not in claims:
                    raise
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            with contextlib.suppress(TokenError):
                candidates.append(parse_expiration(exp))
        if not candidates:
            raise TokenError("the token data carries no usable expiry")
        server_expiry = min(candidates).timestamp()
        reference = _server_now(server_now, claims, now)
        expires = server_expiry if reference is None else now + (server_expiry - reference)
        # Never later than the stated expiry allows under the largest accepted skew.
        expires = min(expires, server_expiry + MAX_CLOCK_SKEW)
        if expires <= now:
            raise TokenError("the access token is already expired (check both servers' clocks)")
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=to_datetime(expires),
            claims=claims,
        )
