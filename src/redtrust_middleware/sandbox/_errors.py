"""The sandbox's ``errorCode`` values and the one internal rejection type.

Redtrust publishes no list of error codes or HTTP statuses; these are the sandbox's own
choices (see ``docs/sandbox.md``). A client must treat any code other than ``OK`` as an error
and keep the code as given.

===========================  ======  ==========================================================
errorCode                    status  when
===========================  ======  ==========================================================
``OK``                       200     success (302 for the login form's redirect)
``INVALID_REQUEST``          400     malformed input: bad UTF-8 or JSON, wrong types, missing,
                                     empty or duplicated fields and parameters
``INVALID_CONSUMER``         400     ``Consumer`` is not ``RA_API`` or ``SIGN_SERVICE``
``INVALID_REDIRECT_URL``     400     ``RedirectUrl`` does not start with a registered prefix
``INVALID_DOMAIN``           400     ``Domain``/``domain`` is not an accepted domain
``INVALID_LOGIN_ATTEMPT``    400     the login form's attempt is unknown or already used
``EXPIRED_LOGIN_ATTEMPT``    400     the login form's attempt is older than ``login_page_ttl``
``TOO_MANY_LOGIN_ATTEMPTS``  429     the signed login link already has ``max_attempts_per_link``
                                     unused sign-in forms open (a replayed link)
``MISSING_SIGNATURE``        401     partner, timestamp or signature missing (where required, or
                                     where only some of the three were sent)
``INVALID_PARTNER``          401     malformed or unknown partner name
``INVALID_TIMESTAMP``        401     timestamp is not 1-12 ASCII digits
``STALE_TIMESTAMP``          401     timestamp outside ``±window_seconds``
``INVALID_SIGNATURE``        401     signature malformed (not 64 lowercase hex) or wrong
``INVALID_CREDENTIALS``      401     wrong user name or password
``INVALID_TEMPORAL_TOKEN``   401     unknown, used, or another partner's temporary token
``EXPIRED_TEMPORAL_TOKEN``   401     temporary token older than ``temp_token_ttl``
``INVALID_REFRESH_TOKEN``    401     unknown, rotated-out, logged-out, revoked or foreign
``EXPIRED_REFRESH_TOKEN``    401     refresh token older than ``refresh_token_ttl``
``MISSING_BEARER``           401     no ``Authorization: Bearer`` where one is required
``INVALID_BEARER``           401     bearer not signed by this sandbox, wrong partner, or from
                                     another session than the refresh token
``EXPIRED_BEARER``           401     expired bearer on logout and the RA API (refresh ignores
                                     the expiry)
``INVALID_CERTIFICATE``      400     ``certificate`` of ``csr/finalize`` is not a PEM certificate
``KEY_MISMATCH``             400     the certificate's public key is not the request's key
``FOREIGN_REQUEST_CODE``     403     the request code belongs to another user (or partner)
``UNKNOWN_REQUEST_CODE``     404     the request code is unknown (never issued, expired after
                                     ``csr_request_ttl``, or evicted)
``UNKNOWN_CERTIFICATE``      404     ``thumbprintToRenew`` is not one of the caller's certificates
``REQUEST_CODE_USED``        409     the request code was already finalized
``NOT_FOUND``                404     unknown path
``METHOD_NOT_ALLOWED``       405     known path, wrong method (``Allow`` lists the right ones)
``PAYLOAD_TOO_LARGE``        413     body larger than ``max_body_bytes``
``SANDBOX_FAULT``            (set)   injected by :meth:`Sandbox.fail_next` (503 by default)
``CONTROL_FORBIDDEN``        403     ``/_sandbox/faults`` from another host or from a browser
``INTERNAL_ERROR``           500     a sandbox bug (logged; never a traceback in the answer)
===========================  ======  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "CONTROL_FORBIDDEN",
    "EXPIRED_BEARER",
    "EXPIRED_LOGIN_ATTEMPT",
    "EXPIRED_REFRESH_TOKEN",
    "EXPIRED_TEMPORAL_TOKEN",
    "FOREIGN_REQUEST_CODE",
    "INTERNAL_ERROR",
    "INVALID_BEARER",
    "INVALID_CERTIFICATE",
    "INVALID_CONSUMER",
    "INVALID_CREDENTIALS",
    "INVALID_DOMAIN",
    "INVALID_LOGIN_ATTEMPT",
    "INVALID_PARTNER",
    "INVALID_REDIRECT_URL",
    "INVALID_REFRESH_TOKEN",
    "INVALID_REQUEST",
    "INVALID_SIGNATURE",
    "INVALID_TEMPORAL_TOKEN",
    "INVALID_TIMESTAMP",
    "KEY_MISMATCH",
    "METHOD_NOT_ALLOWED",
    "MISSING_BEARER",
    "MISSING_SIGNATURE",
    "NOT_FOUND",
    "OK",
    "PAYLOAD_TOO_LARGE",
    "REQUEST_CODE_USED",
    "SANDBOX_FAULT",
    "STALE_TIMESTAMP",
    "TOO_MANY_LOGIN_ATTEMPTS",
    "UNKNOWN_CERTIFICATE",
    "UNKNOWN_REQUEST_CODE",
    "Reject",
    "bad_request",
    "unauthorized",
]

OK = "OK"
INVALID_REQUEST = "INVALID_REQUEST"
INVALID_CONSUMER = "INVALID_CONSUMER"
INVALID_REDIRECT_URL = "INVALID_REDIRECT_URL"
INVALID_DOMAIN = "INVALID_DOMAIN"
INVALID_LOGIN_ATTEMPT = "INVALID_LOGIN_ATTEMPT"
EXPIRED_LOGIN_ATTEMPT = "EXPIRED_LOGIN_ATTEMPT"
TOO_MANY_LOGIN_ATTEMPTS = "TOO_MANY_LOGIN_ATTEMPTS"
MISSING_SIGNATURE = "MISSING_SIGNATURE"
INVALID_PARTNER = "INVALID_PARTNER"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
STALE_TIMESTAMP = "STALE_TIMESTAMP"
INVALID_SIGNATURE = "INVALID_SIGNATURE"
INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
INVALID_TEMPORAL_TOKEN = "INVALID_TEMPORAL_TOKEN"
EXPIRED_TEMPORAL_TOKEN = "EXPIRED_TEMPORAL_TOKEN"
INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
EXPIRED_REFRESH_TOKEN = "EXPIRED_REFRESH_TOKEN"
MISSING_BEARER = "MISSING_BEARER"
INVALID_BEARER = "INVALID_BEARER"
EXPIRED_BEARER = "EXPIRED_BEARER"
INVALID_CERTIFICATE = "INVALID_CERTIFICATE"
KEY_MISMATCH = "KEY_MISMATCH"
FOREIGN_REQUEST_CODE = "FOREIGN_REQUEST_CODE"
UNKNOWN_REQUEST_CODE = "UNKNOWN_REQUEST_CODE"
UNKNOWN_CERTIFICATE = "UNKNOWN_CERTIFICATE"
REQUEST_CODE_USED = "REQUEST_CODE_USED"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
SANDBOX_FAULT = "SANDBOX_FAULT"
CONTROL_FORBIDDEN = "CONTROL_FORBIDDEN"
INTERNAL_ERROR = "INTERNAL_ERROR"


class Reject(Exception):
    """Answer this request with an error (``status``, ``code``, ``message``).

    Internal to the sandbox: handlers raise it, :meth:`Sandbox.handle` renders it as a JSON
    envelope or an HTML page depending on the route. ``message`` is shown to the caller, so it
    names fields but never echoes a received value. ``notes`` are extra lines for the HTML
    page only (a refused ``RedirectUrl`` shows the URL received and how to register it).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.notes = tuple(notes)
        super().__init__(f"{status} {code}: {message}")


def bad_request(message: str) -> Reject:
    """A 400 ``INVALID_REQUEST`` naming what is wrong."""
    return Reject(400, INVALID_REQUEST, message)


def unauthorized(code: str, message: str) -> Reject:
    """A 401 with ``code``."""
    return Reject(401, code, message)
