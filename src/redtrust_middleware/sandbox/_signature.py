"""The partner's HMAC as Redtrust checks it, written for the sandbox from ``redtrust-api.md`` §2.

The signed message is ``PARTNER:TIMESTAMP`` (the partner name in upper case, a colon, the UNIX
time in whole seconds as decimal digits); the signature is HMAC-SHA256 keyed with the UTF-8
bytes of the shared secret, as 64 lowercase hex characters. The same triple arrives as the
``partner``, ``timestamp`` and ``hmac`` parameters of the login link and as the three
``x-...`` headers of server-to-server calls.

This module is the sandbox's own: it shares nothing with the library's
:mod:`redtrust_middleware.signing`, so a mistake in how the library signs shows up as a refusal
here instead of being checked by the same code that made it. The docs publish no replay window
(the sandbox takes ``SandboxConfig.window_seconds``) and no error codes (the codes below are
the sandbox's own, see :mod:`._errors`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from ._errors import (
    INVALID_PARTNER,
    INVALID_SIGNATURE,
    INVALID_TIMESTAMP,
    MISSING_SIGNATURE,
    STALE_TIMESTAMP,
    unauthorized,
)

__all__ = [
    "HEADER_PARTNER",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "PARTNER_NAME",
    "check_signature",
    "partner_hmac",
]

HEADER_PARTNER = "x-partner-name"
HEADER_TIMESTAMP = "x-request-timestamp"
HEADER_SIGNATURE = "x-hmac-signature"

#: A partner name: upper case letters, digits and ``_`` (the docs: "in UPPERCASE").
PARTNER_NAME = re.compile(r"[A-Z0-9_]+")
# 1-12 ASCII digits without a leading zero: ``int()`` alone would also take " 7", "0_7" or
# Arabic-Indic digits, and "07" would be a second spelling of the same signed instant.
_UNIX_SECONDS = re.compile(r"0|[1-9][0-9]{0,11}")
_LOWER_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def partner_hmac(partner: str, timestamp: int, secret: str) -> str:
    """``hex(HMAC-SHA256(utf8(secret), "PARTNER:TIMESTAMP"))``, what Redtrust expects."""
    message = f"{partner}:{timestamp}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check_signature(
    partners: Mapping[str, str],
    partner: str | None,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float,
    window_seconds: int,
) -> str:
    """The partner name of a triple signed with its secret in ``partners`` within
    ``window_seconds`` of ``now``.

    Checked in this order, the first problem is the answer (a 401 :class:`~._errors.Reject`):
    a part missing or empty ``MISSING_SIGNATURE``; a malformed or unknown partner
    ``INVALID_PARTNER``; a timestamp that is not 1-12 digits ``INVALID_TIMESTAMP``; a signature
    that is not 64 lowercase hex characters ``INVALID_SIGNATURE``; a timestamp outside the
    window ``STALE_TIMESTAMP``; a signature that does not match ``INVALID_SIGNATURE``.
    """
    if not partner or not timestamp or not signature:
        raise unauthorized(MISSING_SIGNATURE, "partner, timestamp and signature are all required")
    if not PARTNER_NAME.fullmatch(partner):
        raise unauthorized(INVALID_PARTNER, "partner name is malformed")
    secret = partners.get(partner)
    if secret is None:
        raise unauthorized(INVALID_PARTNER, "unknown partner")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise unauthorized(
            INVALID_TIMESTAMP, "timestamp must be whole UNIX seconds in ASCII digits"
        )
    if not _LOWER_HEX_SHA256.fullmatch(signature):
        raise unauthorized(INVALID_SIGNATURE, "signature must be 64 lowercase hex characters")
    signed_at = int(timestamp)
    skew = signed_at - int(now)
    if abs(skew) > window_seconds:
        raise unauthorized(
            STALE_TIMESTAMP,
            f"timestamp is {skew:+d} s away from the server clock "
            f"(window ±{window_seconds} s): check the server clock",
        )
    if not hmac.compare_digest(partner_hmac(partner, signed_at, secret), signature):
        raise unauthorized(INVALID_SIGNATURE, "signature does not match")
    return partner
