"""The one exception tree of redtrust-middleware.

Every error the library raises on purpose derives from :class:`RedtrustError`::

    RedtrustError
    ├── ConfigurationError        invalid or missing setting (names the field)
    ├── InvalidInputError         an argument to a library call is invalid (names it)
    ├── SignatureError            an HMAC signature or its timestamp was rejected
    │   └── ClockSkewError        the timestamp lies outside the allowed window
    ├── CallbackError             the login callback cannot be completed (a 4xx)
    │   ├── InvalidCallbackError  malformed input (missing, duplicated, oversized ``tkn`` ...)
    │   └── LoginExpiredError     no live pending login: expired, replayed or foreign
    ├── TokenError                token data that cannot be used (bad expiry, bad JWT)
    ├── UpstreamError             Redtrust could not be used (a 502 or 503 to the user)
    │   ├── TransportError        the request failed in transit (connect, reset, ...)
    │   │   └── UpstreamTimeout   no answer in time
    │   ├── ProtocolError         an answer that breaks the protocol (size, type, redirect)
    │   │   └── UnusableAnswerError  Redtrust acted, but its answer cannot be used
    │   └── APIError              a well-formed error envelope (``errorCode`` != ``OK``)
    │       └── OutcomeUnknownError  a non-idempotent call whose result is unknown
    ├── SessionError              the signed-in session cannot be used
    │   ├── NotAuthenticatedError no session, or it ended (sign in again)
    │   └── RefreshFailedError    the refresh failed and the access token is no longer valid
    └── StoreError                the session store could not be read or written (a 503)

Errors carry codes and context, never secret values: a token, a secret or a signature never
appears in a message, so tracebacks and error pages stay safe to show and to log.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "APIError",
    "CallbackError",
    "ClockSkewError",
    "ConfigurationError",
    "InvalidCallbackError",
    "InvalidInputError",
    "LoginExpiredError",
    "NotAuthenticatedError",
    "OutcomeUnknownError",
    "ProtocolError",
    "RedtrustError",
    "RefreshFailedError",
    "SessionError",
    "SignatureError",
    "StoreError",
    "TokenError",
    "TransportError",
    "UnusableAnswerError",
    "UpstreamError",
    "UpstreamTimeout",
]


class RedtrustError(Exception):
    """Base class of every error raised by redtrust-middleware."""

    #: The HTTP status a web face answers with when this error reaches it.
    http_status: int = 500


class ConfigurationError(RedtrustError):
    """A setting is missing or invalid; ``field`` names it, and ``variable`` its environment
    variable when it has one (``public_url (REDTRUST_PUBLIC_URL): is required ...``).

    ``also`` holds the other mistakes found at the same time (``NAME: problem`` each), listed
    in the message one a line, so one start-up names them all.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        variable: str | None = None,
        also: Sequence[str] = (),
    ) -> None:
        self.field = field
        self.problem = problem
        self.variable = variable
        self.also = tuple(also)
        named = field if variable is None or variable == field else f"{field} ({variable})"
        super().__init__(f"{named}: {problem}" + "".join(f"\n  also {a}" for a in self.also))


class InvalidInputError(RedtrustError):
    """An argument is invalid (checked before anything is sent); ``field`` names it."""

    http_status = 400

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class SignatureError(RedtrustError):
    """An HMAC signature, its partner or its timestamp was rejected."""

    http_status = 401

    def __init__(self, reason: str, *, code: str = "INVALID_SIGNATURE") -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class ClockSkewError(SignatureError):
    """The signed timestamp is outside the accepted window: check the server clock."""

    def __init__(self, skew_seconds: int, window_seconds: int) -> None:
        self.skew_seconds = skew_seconds
        self.window_seconds = window_seconds
        super().__init__(
            f"timestamp is {skew_seconds:+d} s away from the server clock "
            f"(window ±{window_seconds} s): check the server clock",
            code="STALE_TIMESTAMP",
        )


class CallbackError(RedtrustError):
    """The login callback cannot be completed; answered with a 4xx."""

    http_status = 400

    def __init__(self, reason: str, *, code: str) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class InvalidCallbackError(CallbackError):
    """The callback's parameters are malformed (missing, empty, duplicated, oversized ...)."""


class LoginExpiredError(CallbackError):
    """No live pending login matches this callback: it expired, was used, or is foreign.

    The right answer is to start the login again, never a server error.
    """


class TokenError(RedtrustError):
    """Token data that cannot be used: unparseable expiry, malformed or unverifiable JWT."""

    http_status = 502


class UpstreamError(RedtrustError):
    """Redtrust could not be used for this call."""

    http_status = 502

    def __init__(self, reason: str, *, operation: str = "", status: int | None = None) -> None:
        self.reason = reason
        self.operation = operation
        self.status = status
        where = f"{operation}: " if operation else ""
        super().__init__(f"{where}{reason}")


class TransportError(UpstreamError):
    """The request failed in transit.

    ``reached_server`` is False only when the request certainly never reached Redtrust (the
    connection was refused or could not be opened), which is the one case a retry is safe.
    """

    http_status = 503

    def __init__(self, reason: str, *, operation: str = "", reached_server: bool = True) -> None:
        self.reached_server = reached_server
        super().__init__(reason, operation=operation)


class UpstreamTimeout(TransportError):
    """Redtrust did not answer in time."""


class ProtocolError(UpstreamError):
    """Redtrust answered something the protocol does not allow (size, type, redirect ...)."""


class UnusableAnswerError(ProtocolError):
    """Redtrust acted (a ``csr/create`` made a key pair and a request) but its answer cannot be
    used; the message names the cause and the setting that fixes it.

    ``request_code`` is the answer's request code when it had a usable one, so the caller
    can still finish or clean up that request.
    """

    def __init__(
        self,
        reason: str,
        *,
        operation: str = "",
        status: int | None = None,
        request_code: str | None = None,
    ) -> None:
        self.request_code = request_code
        if request_code is not None:
            reason = f"{reason} (requestCode {request_code})"
        super().__init__(reason, operation=operation, status=status)


class APIError(UpstreamError):
    """Redtrust answered with an error envelope.

    ``code`` is the envelope's ``errorCode`` (kept as given: no list is published), ``message``
    its human text and ``status`` the HTTP status.
    """

    def __init__(self, code: str, message: str, *, status: int, operation: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}", operation=operation, status=status)

    @property
    def is_transient(self) -> bool:
        """True for server-side failures (5xx) that a later attempt may not meet."""
        return self.status is not None and self.status >= 500

    @property
    def is_rejection(self) -> bool:
        """True when Redtrust refused the credential presented (400, 401 or 403).

        A refusal of the HMAC headers themselves (a configuration or clock problem) is not a
        rejection of the user's token, and neither is a rate limit or a missing endpoint.
        """
        from .signing import SIGNATURE_CODES

        return self.status in (400, 401, 403) and self.code not in SIGNATURE_CODES


class OutcomeUnknownError(APIError):
    """A non-idempotent call (certificate create/finalize) may or may not have taken effect.

    It is never retried automatically; ``request_code`` (when known) lets the caller check.
    """

    def __init__(self, *, operation: str, request_code: str | None = None) -> None:
        self.request_code = request_code
        super().__init__(
            "OUTCOME_UNKNOWN",
            "the request was sent but no answer arrived; it was not retried",
            status=504,
            operation=operation,
        )


class SessionError(RedtrustError):
    """The signed-in session cannot be used."""

    http_status = 401


class NotAuthenticatedError(SessionError):
    """There is no signed-in session, or it ended: the user must sign in again."""


class RefreshFailedError(SessionError):
    """Refreshing failed for a transient reason and the access token is no longer valid."""

    http_status = 503

    def __init__(self, reason: str, *, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class StoreError(RedtrustError):
    """The session store could not be read or written; sessions are left untouched."""

    http_status = 503
