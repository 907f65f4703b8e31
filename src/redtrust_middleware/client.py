"""Talking to Redtrust: two thin drivers of the pure calls in :mod:`.calls`.

Every operation is a :class:`Call`: a request description built by pure code and a parser
that turns the answer into a value or a typed error (see :mod:`.calls`). :class:`Client` and
:class:`AsyncClient` only send calls (with fresh HMAC headers on every attempt) and retry the
one failure that is always safe to retry, a connection that never reached the server.
Nothing else is retried: temporary tokens are single-use, refresh tokens may rotate,
certificate requests must not be issued twice.

The RA API calls (:meth:`Client.create_csr`, :meth:`Client.finalize_csr`, and the whole
:meth:`Client.enroll` / :meth:`Client.renew`) act as a user: they take the user's
:class:`TokenSet` or bearer, or come bound to it on :class:`UserClient`. Both
``csr/create`` and ``csr/finalize`` are *unrepeatable*: a create makes Redtrust generate a key
pair and a pending request, a finalize stores a certificate, so an answer lost after sending
raises :class:`OutcomeUnknownError` (carrying the request code for a finalize) instead of a
retry that could make a second key or replay the finalize.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack, overload

import anyio
from cryptography import x509

from . import _http, telemetry
from ._clock import Clock, system_clock
from .calls import ApiRequest, Call, ClientCalls, make_verifier, parse_envelope
from .certificates import (
    CertificateInput,
    CsrOptions,
    CsrRequest,
    DNInput,
    Enrollment,
    IssuedCertificate,
    validate_thumbprint,
)
from .config import RedtrustConfig
from .exceptions import RedtrustError, TransportError
from .logevents import error_fields, log, since
from .tokens import TokenSet

__all__ = [
    "ApiRequest",
    "AsyncClient",
    "AsyncIssuer",
    "AsyncUserClient",
    "Call",
    "Client",
    "ClientCalls",
    "Issuer",
    "UserClient",
    "bind_client",
    "parse_envelope",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The calls logged when they end (done, failed), beside each attempt's DEBUG line.
_REPORTED = {
    "login": ("redtrust.direct_login.completed", "redtrust.direct_login.failed"),
    "csr_create": ("redtrust.ra.completed", "redtrust.ra.failed"),
    "csr_finalize": ("redtrust.ra.completed", "redtrust.ra.failed"),
}

#: The partner's CA for :meth:`Client.enroll` and :meth:`Client.renew`: signs a CSR into a
#: certificate (a ``cryptography`` object or PEM), e.g. ``DemoCA().issue``.
Issuer = Callable[[x509.CertificateSigningRequest], CertificateInput]
#: The same for the async client; it may also be a coroutine function.
AsyncIssuer = Callable[
    [x509.CertificateSigningRequest], CertificateInput | Awaitable[CertificateInput]
]


def _enrolment_span(renewing: str | None) -> str:
    return "redtrust.certificate.enroll" if renewing is None else "redtrust.certificate.renew"


class _ClientBase:
    def __init__(self, config: RedtrustConfig, clock: Clock) -> None:
        self.config = config
        self.calls = ClientCalls(config, make_verifier(config))
        self._clock = clock

    def _send_arguments(self, request: ApiRequest) -> dict[str, Any]:
        """What one attempt sends: fresh HMAC headers, the size and time limits."""
        return {
            "operation": request.operation,
            "method": request.method,
            "url": request.url,
            "headers": self.calls.headers(request, self._clock()),
            "json_body": request.json_body,
            "limit": self.config.max_response_bytes,
            "time_limit": request.time_limit or self.config.timeout,
        }

    def _telemetry(self, request: ApiRequest) -> Any:
        """The span and metrics of one call (all its attempts): see :mod:`.telemetry`."""
        return telemetry.api_call(
            request.operation, request.method, request.url, self.config.partner
        )

    def _failed(
        self, request: ApiRequest, started: float, error: TransportError, *, last: bool
    ) -> None:
        """Log a failed attempt; raise unless it may be tried again."""
        self._log(request, started, type(error).__name__, None, error)
        failure = self.calls.give_up(request, error, last)
        if failure is not None:
            raise failure from None

    def _parsed(self, call: Call[T], started: float, raw: _http.RawResponse) -> T:
        try:
            value = call.parse(raw, self._clock())
        except RedtrustError as error:
            self._log(call.request, started, str(raw.status), raw.status, error)
            raise
        self._log(call.request, started, str(raw.status), raw.status, None)
        return value

    def _log(
        self,
        request: ApiRequest,
        started: float,
        said: str,
        status: int | None,
        error: RedtrustError | None,
    ) -> None:
        """Log one attempt (DEBUG): what came back, Redtrust's error code, how long it took."""
        if not logger.isEnabledFor(logging.DEBUG):
            return
        latency = since(started)
        fields = {} if error is None else error_fields(error)
        log(
            logger,
            "redtrust.call",
            "redtrust %s -> %s in %.0f ms",
            request.operation,
            said,
            latency,
            operation=request.operation,
            partner=self.config.partner,
            outcome="ok" if error is None else "error",
            latency_ms=latency,
            **{"status": status, **fields},
        )

    def _told(self, request: ApiRequest, started: float, error: RedtrustError | None) -> None:
        """Log the end of a call that changes something at Redtrust beyond a session's tokens
        (a direct login, a certificate request): INFO when done, WARNING when it failed.
        Sign-in, refresh and logout are logged where the session changes."""
        events = _REPORTED.get(request.operation)
        if events is None:
            return
        latency = since(started)
        fields = {} if error is None else error_fields(error)
        log(
            logger,
            events[error is not None],
            "redtrust %s %s in %.0f ms",
            request.operation,
            "done" if error is None else f"failed ({type(error).__name__})",
            latency,
            operation=request.operation,
            partner=self.config.partner,
            outcome="ok" if error is None else "error",
            latency_ms=latency,
            **fields,
        )


class Client(_ClientBase):
    """Synchronous Redtrust client; owns one pooled HTTP connection pool. Thread-safe.

    Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        transport: _http.Transport | None = None,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(config, clock)
        self._http = _http.make_client(config, transport)

    def send(self, call: Call[T]) -> T:
        """Send a call built by :class:`ClientCalls`, with the safe retries only."""
        started = time.perf_counter()
        try:
            value = self._send(call)
        except RedtrustError as error:
            self._told(call.request, started, error)
            raise
        self._told(call.request, started, None)
        return value

    def _send(self, call: Call[T]) -> T:
        request = call.request
        schedule = list(self.calls.attempts())
        with self._telemetry(request) as span:
            for index, delay in enumerate(schedule):
                if delay:
                    time.sleep(delay)
                started = time.perf_counter()
                try:
                    raw = _http.send(self._http, **self._send_arguments(request))
                except TransportError as error:
                    self._failed(request, started, error, last=index == len(schedule) - 1)
                    continue
                span.status(raw.status)
                return self._parsed(call, started, raw)
        raise AssertionError("unreachable")  # pragma: no cover

    def exchange(self, temp_token: str) -> TokenSet:
        """Exchange the callback's temporary token for a token set."""
        return self.send(self.calls.exchange(temp_token))

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """Refresh a token set (not retried: the refresh token may rotate)."""
        return self.send(self.calls.refresh(tokens))

    def login(self, username: str, password: str, domain: str | None = None) -> TokenSet:
        """Direct login with a user's credentials."""
        return self.send(self.calls.login(username, password, domain))

    def logout(self, tokens: TokenSet) -> bool:
        """Remote logout; False when the profile has none (the caller ends the local session)."""
        call = self.calls.logout(tokens)
        return False if call is None else self.send(call)

    def create_csr(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        **options: Unpack[CsrOptions],
    ) -> CsrRequest:
        """Have Redtrust generate a key pair for the user and a CSR for ``dn``.

        Raises:
            InvalidInputError: an invalid input (nothing was sent).
            OutcomeUnknownError: the request was sent but its answer was lost (not retried).
        """
        call = self.calls.create_csr(tokens, dn, thumbprint_to_renew=thumbprint_to_renew, **options)
        return self.send(call)

    def finalize_csr(
        self, tokens: TokenSet | str, request_code: str, certificate: CertificateInput
    ) -> IssuedCertificate:
        """Store the certificate issued for ``request_code`` with its server-held key.

        Raises:
            InvalidInputError: an invalid input (nothing was sent).
            OutcomeUnknownError: sent, answer lost; ``request_code`` says which (not retried).
        """
        return self.send(self.calls.finalize_csr(tokens, request_code, certificate))

    def enroll(
        self, tokens: TokenSet | str, dn: DNInput, *, issue: Issuer, **options: Unpack[CsrOptions]
    ) -> Enrollment:
        """A new certificate for the user: create, have ``issue`` sign the CSR, finalize."""
        return self._enroll(tokens, dn, issue, None, options)

    def renew(
        self,
        tokens: TokenSet | str,
        thumbprint: str,
        dn: DNInput,
        *,
        issue: Issuer,
        **options: Unpack[CsrOptions],
    ) -> Enrollment:
        """Renew the user's certificate ``thumbprint``; the new one replaces it at Redtrust."""
        return self._enroll(tokens, dn, issue, validate_thumbprint(thumbprint), options)

    def _enroll(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        issue: Issuer,
        renewing: str | None,
        options: CsrOptions,
    ) -> Enrollment:
        self.calls.check_issuer(issue)
        with telemetry.operation(_enrolment_span(renewing)):
            request = self.create_csr(tokens, dn, thumbprint_to_renew=renewing, **options)
            certificate = self.calls.issued_for(request, issue(request.csr))
            issued = self.finalize_csr(tokens, request.request_code, certificate)
        return Enrollment(request=request, issued=issued)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """Asynchronous Redtrust client; owns one pooled HTTP connection pool.

    Use as an async context manager or call :meth:`aclose`.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        transport: _http.AsyncTransport | None = None,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(config, clock)
        self._http = _http.make_async_client(config, transport)

    async def send(self, call: Call[T]) -> T:
        """Send a call built by :class:`ClientCalls`, with the safe retries only."""
        started = time.perf_counter()
        try:
            value = await self._send(call)
        except RedtrustError as error:
            self._told(call.request, started, error)
            raise
        self._told(call.request, started, None)
        return value

    async def _send(self, call: Call[T]) -> T:
        request = call.request
        schedule = list(self.calls.attempts())
        with self._telemetry(request) as span:
            for index, delay in enumerate(schedule):
                if delay:
                    await anyio.sleep(delay)
                started = time.perf_counter()
                try:
                    raw = await _http.async_send(self._http, **self._send_arguments(request))
                except TransportError as error:
                    self._failed(request, started, error, last=index == len(schedule) - 1)
                    continue
                span.status(raw.status)
                return self._parsed(call, started, raw)
        raise AssertionError("unreachable")  # pragma: no cover

    async def exchange(self, temp_token: str) -> TokenSet:
        """Exchange the callback's temporary token for a token set."""
        return await self.send(self.calls.exchange(temp_token))

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """Refresh a token set (not retried: the refresh token may rotate)."""
        return await self.send(self.calls.refresh(tokens))

    async def login(self, username: str, password: str, domain: str | None = None) -> TokenSet:
        """Direct login with a user's credentials."""
        return await self.send(self.calls.login(username, password, domain))

    async def logout(self, tokens: TokenSet) -> bool:
        """Remote logout; False when the profile has none (the caller ends the local session)."""
        call = self.calls.logout(tokens)
        return False if call is None else await self.send(call)

    async def create_csr(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        **options: Unpack[CsrOptions],
    ) -> CsrRequest:
        """Have Redtrust generate a key pair for the user and a CSR for ``dn``."""
        call = self.calls.create_csr(tokens, dn, thumbprint_to_renew=thumbprint_to_renew, **options)
        return await self.send(call)

    async def finalize_csr(
        self, tokens: TokenSet | str, request_code: str, certificate: CertificateInput
    ) -> IssuedCertificate:
        """Store the certificate issued for ``request_code`` with its server-held key."""
        return await self.send(self.calls.finalize_csr(tokens, request_code, certificate))

    async def enroll(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        *,
        issue: AsyncIssuer,
        **options: Unpack[CsrOptions],
    ) -> Enrollment:
        """A new certificate for the user: create, have ``issue`` sign the CSR, finalize."""
        return await self._enroll(tokens, dn, issue, None, options)

    async def renew(
        self,
        tokens: TokenSet | str,
        thumbprint: str,
        dn: DNInput,
        *,
        issue: AsyncIssuer,
        **options: Unpack[CsrOptions],
    ) -> Enrollment:
        """Renew the user's certificate ``thumbprint``; the new one replaces it at Redtrust."""
        return await self._enroll(tokens, dn, issue, validate_thumbprint(thumbprint), options)

    async def _enroll(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        issue: AsyncIssuer,
        renewing: str | None,
        options: CsrOptions,
    ) -> Enrollment:
        self.calls.check_issuer(issue)
        with telemetry.operation(_enrolment_span(renewing)):
            request = await self.create_csr(tokens, dn, thumbprint_to_renew=renewing, **options)
            signed: object = issue(request.csr)
            if isawaitable(signed):
                signed = await signed
            certificate = self.calls.issued_for(request, signed)
            issued = await self.finalize_csr(tokens, request.request_code, certificate)
        return Enrollment(request=request, issued=issued)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _BoundToUser:
    """What both bound clients share: the user's token set, never shown in ``repr``."""

    __slots__ = ("tokens",)

    def __init__(self, tokens: TokenSet) -> None:
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}(subject={self.tokens.subject!r})"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value for calls as this user."""
        return f"Bearer {self.tokens.access_token}"


class UserClient(_BoundToUser):
    """The app's :class:`Client` bound to one signed-in user's fresh token set.

    Calls made through it act as that user. To sign the user out, use the logout route: it
    ends the session here and at Redtrust.
    """

    __slots__ = ("_client",)

    def __init__(self, client: Client, tokens: TokenSet) -> None:
        super().__init__(tokens)
        self._client = client

    def create_csr(
        self,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        **options: Unpack[CsrOptions],
    ) -> CsrRequest:
        """:meth:`Client.create_csr` as this user."""
        return self._client.create_csr(
            self.tokens, dn, thumbprint_to_renew=thumbprint_to_renew, **options
        )

    def finalize_csr(self, request_code: str, certificate: CertificateInput) -> IssuedCertificate:
        """:meth:`Client.finalize_csr` as this user."""
        return self._client.finalize_csr(self.tokens, request_code, certificate)

    def enroll(self, dn: DNInput, *, issue: Issuer, **options: Unpack[CsrOptions]) -> Enrollment:
        """:meth:`Client.enroll` as this user."""
        return self._client.enroll(self.tokens, dn, issue=issue, **options)

    def renew(
        self, thumbprint: str, dn: DNInput, *, issue: Issuer, **options: Unpack[CsrOptions]
    ) -> Enrollment:
        """:meth:`Client.renew` as this user."""
        return self._client.renew(self.tokens, thumbprint, dn, issue=issue, **options)


class AsyncUserClient(_BoundToUser):
    """The app's :class:`AsyncClient` bound to one signed-in user's fresh token set."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient, tokens: TokenSet) -> None:
        super().__init__(tokens)
        self._client = client

    async def create_csr(
        self,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        **options: Unpack[CsrOptions],
    ) -> CsrRequest:
        """:meth:`AsyncClient.create_csr` as this user."""
        return await self._client.create_csr(
            self.tokens, dn, thumbprint_to_renew=thumbprint_to_renew, **options
        )

    async def finalize_csr(
        self, request_code: str, certificate: CertificateInput
    ) -> IssuedCertificate:
        """:meth:`AsyncClient.finalize_csr` as this user."""
        return await self._client.finalize_csr(self.tokens, request_code, certificate)

    async def enroll(
        self, dn: DNInput, *, issue: AsyncIssuer, **options: Unpack[CsrOptions]
    ) -> Enrollment:
        """:meth:`AsyncClient.enroll` as this user."""
        return await self._client.enroll(self.tokens, dn, issue=issue, **options)

    async def renew(
        self, thumbprint: str, dn: DNInput, *, issue: AsyncIssuer, **options: Unpack[CsrOptions]
    ) -> Enrollment:
        """:meth:`AsyncClient.renew` as this user."""
        return await self._client.renew(self.tokens, thumbprint, dn, issue=issue, **options)


@overload
def bind_client(client: AsyncClient, tokens: TokenSet) -> AsyncUserClient: ...
@overload
def bind_client(client: Client, tokens: TokenSet) -> UserClient: ...
@overload
def bind_client(client: None, tokens: TokenSet) -> None: ...
def bind_client(
    client: AsyncClient | Client | None, tokens: TokenSet
) -> AsyncUserClient | UserClient | None:
    """The app's ``client`` bound to the user of ``tokens``, for calls as that user.

    An :class:`AsyncClient` gives an :class:`AsyncUserClient`, a :class:`Client` a
    :class:`UserClient`; every web face puts this on the request's context. None without a
    client.
    """
    if isinstance(client, AsyncClient):
        return AsyncUserClient(client, tokens)
    if isinstance(client, Client):
        return UserClient(client, tokens)
    return None
