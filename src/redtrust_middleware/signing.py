"""The Redtrust HMAC: ``HMAC-SHA256(secret, "PARTNER:TIMESTAMP")`` as lowercase hex.

One function signs (:func:`sign`); every caller in the library (the browser login URL, the
server-to-server headers) goes through it, so the message format exists once. The sandbox
verifies with its own code, written from the documentation, as an independent check. The
timestamp is always whole UNIX seconds taken from the injected clock at the moment of the
call, never a cached value.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .exceptions import ClockSkewError, SignatureError

__all__ = [
    "HEADER_PARTNER",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "PARTNER_PATTERN",
    "SIGNATURE_CODES",
    "SignedStamp",
    "sign",
    "signed_stamp",
    "verify",
]

HEADER_PARTNER = "x-partner-name"
HEADER_TIMESTAMP = "x-request-timestamp"
HEADER_SIGNATURE = "x-hmac-signature"

#: ``errorCode`` values by which a server refuses the HMAC headers themselves (the sandbox
#: answers with the same codes; they mean "fix the configuration or the clock", never
#: "the user is out").
SIGNATURE_CODES = frozenset(
    {
        "MISSING_SIGNATURE",
        "INVALID_SIGNATURE",
        "INVALID_PARTNER",
        "INVALID_TIMESTAMP",
        "STALE_TIMESTAMP",
    }
)

#: Partner names are upper-case identifiers; anything else cannot be signed unambiguously.
PARTNER_PATTERN = re.compile(r"[A-Z0-9_]+")
_DIGITS = re.compile(r"0|[1-9][0-9]{0,11}")  # no leading zeros: one spelling per instant
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sign(partner: str, timestamp: int, secret: str) -> str:
    """The lowercase hex HMAC-SHA256 of ``"PARTNER:TIMESTAMP"`` keyed with ``secret``.

    Raises:
        SignatureError: the partner is not upper case ``[A-Z0-9_]+`` or the timestamp is not a
            non-negative ``int`` (floats and milliseconds would sign a different message).
    """
    if not PARTNER_PATTERN.fullmatch(partner):
        raise SignatureError("partner must be upper case letters, digits and '_'")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise SignatureError("timestamp must be whole UNIX seconds (a non-negative int)")
    message = f"{partner}:{timestamp}".encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class SignedStamp:
    """A partner name, a timestamp and their signature, as sent on one request.

    The repr hides the signature: a valid triple can be replayed inside the window.
    """

    __slots__ = ("partner", "signature", "timestamp")

    def __init__(self, partner: str, timestamp: int, signature: str) -> None:
        self.partner = partner
        self.timestamp = timestamp
        self.signature = signature

    def __repr__(self) -> str:
        return f"SignedStamp(partner={self.partner!r}, timestamp={self.timestamp}, signature=***)"

    def headers(self) -> dict[str, str]:
        """The three server-to-server headers."""
        return {
            HEADER_PARTNER: self.partner,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_SIGNATURE: self.signature,
        }


def signed_stamp(partner: str, secret: str, now: float) -> SignedStamp:
    """Sign ``partner`` at ``now`` (seconds; the fraction is dropped, never rounded up)."""
    timestamp = int(now)
    return SignedStamp(partner, timestamp, sign(partner, timestamp, secret))


def verify(
    *,
    partner: str | None,
    timestamp: str | None,
    signature: str | None,
    secret: str,
    now: float,
    window_seconds: int = 300,
    expected_partner: str | None = None,
) -> int:
    """Check a received triple; return the timestamp as an ``int``.

    The timestamp must be 1-12 ASCII digits (``int()`` alone would accept spaces, ``_`` and
    non-ASCII digits), lie within ``window_seconds`` of ``now``, and the signature must match
    in constant time.

    Raises:
        SignatureError: a part is missing or malformed, the partner is not the expected one, or
            the signature does not match.
        ClockSkewError: the timestamp is outside the window.
    """
    if not partner or not timestamp or not signature:
        raise SignatureError(
            "partner, timestamp and signature are all required", code="MISSING_SIGNATURE"
        )
    if not PARTNER_PATTERN.fullmatch(partner):
        raise SignatureError("partner name is malformed", code="INVALID_PARTNER")
    if expected_partner is not None and partner != expected_partner:
        raise SignatureError("unknown partner", code="INVALID_PARTNER")
    if not _DIGITS.fullmatch(timestamp):
        raise SignatureError(
            "timestamp must be whole UNIX seconds in ASCII digits", code="INVALID_TIMESTAMP"
        )
    if not _HEX64.fullmatch(signature):
        raise SignatureError(
            "signature must be 64 lowercase hex characters", code="INVALID_SIGNATURE"
        )
    stamp = int(timestamp)
    skew = stamp - int(now)
    if abs(skew) > window_seconds:
        raise ClockSkewError(skew, window_seconds)
    if not hmac.compare_digest(sign(partner, stamp, secret), signature):
        raise SignatureError("signature does not match", code="INVALID_SIGNATURE")
    return stamp
