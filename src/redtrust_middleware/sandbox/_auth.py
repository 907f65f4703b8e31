"""What every handler works with (:class:`Services`) and the caller checks they share."""

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

__all__ = ["Services", "header_partner", "live_bearer", "signed_partner", "signed_user"]


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
    """The partner of a server-to-server call, from its three HMAC headers."""
    return signed_partner(
        sv,
        single_header(request, HEADER_PARTNER),
        single_header(request, HEADER_TIMESTAMP),
        single_header(request, HEADER_SIGNATURE),
    )


def live_bearer(sv: Services, request: httpx2.Request) -> tuple[str, dict[str, Any]]:
    """The partner and the claims of a signed call with an unexpired bearer.

    Raises :class:`Reject` 401: a signature refusal, ``MISSING_BEARER``, ``INVALID_BEARER``
    or ``EXPIRED_BEARER``.
    """
    partner = header_partner(sv, request)
    claims = sv.signer.read(bearer_token(request), audience=partner)
    if claims["exp"] <= sv.clock():
        raise unauthorized(EXPIRED_BEARER, "the bearer expired")
    return partner, claims


def signed_user(sv: Services, request: httpx2.Request) -> tuple[str, str]:
    """``(partner, username)`` of an RA API call: a live bearer of a running session."""
    partner, claims = live_bearer(sv, request)
    username = sv.state.session_user(claims["sid"])
    if username is None:
        raise unauthorized(INVALID_BEARER, "the session of this bearer has ended")
    return partner, username
