"""What every handler works with (:class:`Services`) and how each endpoint authenticates.

Per the docs (``redtrust-api.md`` §6, "Authentication per endpoint"): the tutorial's
``/authapi/...`` calls carry the partner's three HMAC headers (:func:`header_partner`); the RA
API's login and refresh need nothing, its logout and ``csr/*`` only a bearer
(:func:`optional_partner`, :func:`live_bearer`). HMAC headers that are sent anyway are always
checked, and bind the call to their partner. ``SandboxConfig.strict_signatures`` asks for the
headers on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2

from .._clock import Clock
from ._config import SandboxConfig
from ._enroll import EnrollmentState
from ._errors import EXPIRED_BEARER, INVALID_BEARER, unauthorized
from ._http import bearer_token, single_header
from ._jwt import AccessTokenSigner
from ._signature import HEADER_PARTNER, HEADER_SIGNATURE, HEADER_TIMESTAMP, check_signature
from ._state import SandboxState

__all__ = [
    "Services",
    "header_partner",
    "live_bearer",
    "optional_partner",
    "signed_partner",
    "signed_user",
]

_SIGNATURE_HEADERS = (HEADER_PARTNER, HEADER_TIMESTAMP, HEADER_SIGNATURE)


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers work with: the settings, the state, the JWT signer, the clock and the
    certificate requests."""

    config: SandboxConfig
    state: SandboxState
    signer: AccessTokenSigner
    clock: Clock
    enrollment: EnrollmentState


def signed_partner(
    sv: Services, partner: str | None, timestamp: str | None, signature: str | None
) -> str:
    """Check a partner/timestamp/HMAC triple (:func:`._signature.check_signature`); the
    partner name."""
    return check_signature(
        sv.config.partners,
        partner,
        timestamp,
        signature,
        now=sv.clock(),
        window_seconds=sv.config.window_seconds,
    )


def header_partner(sv: Services, request: httpx2.Request) -> str:
    """The partner of a call that must be signed, from its three HMAC headers."""
    return signed_partner(sv, *(single_header(request, name) for name in _SIGNATURE_HEADERS))


def optional_partner(sv: Services, request: httpx2.Request) -> str | None:
    """The partner of a call whose docs ask for no HMAC: ``None`` when none of the three
    headers is sent; any one of them sent (or ``strict_signatures``) and all three are
    checked like :func:`header_partner`'s."""
    if not sv.config.strict_signatures and not any(
        name in request.headers for name in _SIGNATURE_HEADERS
    ):
        return None
    return header_partner(sv, request)


def live_bearer(sv: Services, request: httpx2.Request) -> dict[str, Any]:
    """The claims of an unexpired bearer (HMAC headers optional, checked when sent).

    Raises :class:`Reject` 401: a signature refusal, ``MISSING_BEARER``, ``INVALID_BEARER``
    (also a bearer of another partner than the one that signed the call) or
    ``EXPIRED_BEARER``.
    """
    partner = optional_partner(sv, request)
    claims = sv.signer.read(bearer_token(request), audience=partner)
    if claims["exp"] <= sv.clock():
        raise unauthorized(EXPIRED_BEARER, "the bearer expired")
    return claims


def signed_user(sv: Services, request: httpx2.Request) -> tuple[str | None, str]:
    """``(partner, username)`` of an RA API call: a live bearer of a running session; the
    partner is the session's (``None`` for a session opened without HMAC headers)."""
    claims = live_bearer(sv, request)
    username = sv.state.session_user(claims["sid"])
    if username is None:
        raise unauthorized(INVALID_BEARER, "the session of this bearer has ended")
    return claims.get("aud"), username
