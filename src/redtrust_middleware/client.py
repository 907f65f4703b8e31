"""Talking to Redtrust: pure request builders and envelope parsers, and two thin drivers.

Every operation is a :class:`Call`: a request description built by pure code and a parser
that turns the answer into a value or a typed error. :class:`Client` and :class:`AsyncClient`
only send calls (with fresh HMAC headers on every attempt) and retry the one failure that is
always safe to retry, a connection that never reached the server. Nothing else is retried:
temporary tokens are single-use, refresh tokens may rotate, certificate requests must not be
issued twice.

The RA API calls (:meth:`Client.create_csr`, :meth:`Client.finalize_csr`, and the whole
:meth:`Client.enroll` / :meth:`Client.renew`) act as a user: they take the user's
:class:`TokenSet` or bearer, or come bound to it on :class:`UserClient`. Both
``csr/create`` and ``csr/finalize`` are *unrepeatable*: a create makes Redtrust generate a key
pair and a pending request, a finalize stores a certificate, so an answer lost after sending
raises :class:`OutcomeUnknownError` (carrying the request code for a finalize) instead of a
retry that could make a second key or replay the finalize.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, Unpack, overload

import anyio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import _http
from ._clock import Clock, system_clock
from .certificates import (
    CertificateInput,
    CsrOptions,
    CsrRequest,
    CsrSpec,
    DNInput,
    Enrollment,
    IssuedCertificate,
    certificate_of,
    check_issued_for,
    parse_created,
    parse_finalized,
    validate_request_code,
    validate_thumbprint,
)
from .config import Endpoint, RedtrustConfig
from .exceptions import (
    APIError,
    InvalidInputError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from .login import is_temp_token
from .signing import signed_stamp
from .tokens import TokenSet, TokenVerifier

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

_CREDENTIAL_LIMIT = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BEARER = re.compile(r"[\x21-\x7e]{1,8192}")

#: The partner's CA for :meth:`Client.enroll` and :meth:`Client.renew`: signs a CSR into a
#: certificate (a ``cryptography`` object or PEM), e.g. ``DemoCA().issue``.
Issuer = Callable[[x509.CertificateSigningRequest], CertificateInput]
#: The same for the async client; it may also be a coroutine function.
AsyncIssuer = Callable[
    [x509.CertificateSigningRequest], CertificateInput | Awaitable[CertificateInput]
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiRequest:
    """One request to Redtrust, before signing. ``bearer`` never shows in ``repr``."""

    operation: str
    method: str
    url: str
    json_body: Mapping[str, Any] | None = field(default=None, repr=False)
    bearer: str | None = field(default=None, repr=False)
    #: A call whose effect must not happen twice: a lost answer is "outcome unknown".
    unrepeatable: bool = False
    #: The certificate request this call concerns (carried by :class:`OutcomeUnknownError`).
    request_code: str | None = None
    #: Seconds the call may take (read and write); ``None``: the config's ``timeout``.
    time_limit: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Generic[T]):
    """A request and the parser of its answer (given the clock reading at arrival)."""

    request: ApiRequest
    parse: Callable[[_http.RawResponse, float], T]


def _clean_text(value: object, limit: int = 200) -> str:
    """Upstream text made safe to log and show: printable characters only, truncated."""
    text = value if isinstance(value, str) else ""
    return "".join(c if c.isprintable() else " " for c in text[:limit])


def parse_envelope(response: _http.RawResponse, operation: str) -> Mapping[str, Any]:
    """Return the envelope's ``data`` or raise a typed error.

    Raises:
        APIError: an ``ERROR`` envelope, or any ``errorCode`` other than ``OK``.
        ProtocolError: the answer is not a JSON envelope of the documented shape.
    """
    status = response.status
    media = response.content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ProtocolError(
            f"expected JSON, got {media or 'no content type'!r}", operation=operation, status=status
        )
    try:
        envelope = json.loads(response.body)
    except (ValueError, RecursionError):
        raise ProtocolError(
            "the answer is not valid JSON", operation=operation, status=status
        ) from None
    if not isinstance(envelope, dict):
        raise ProtocolError("the answer is not a JSON object", operation=operation, status=status)
    kind = envelope.get("messageType")
    code = envelope.get("errorCode")
    data = envelope.get("data")
    if kind not in ("SUCCESS", "ERROR") or not isinstance(code, str) or not code:
        raise ProtocolError(
            "the answer is not a Redtrust envelope", operation=operation, status=status
        )
    if kind == "ERROR" or code != "OK":
        raise APIError(
            _clean_text(code, 64),
            _clean_text(envelope.get("message")),
            status=status,
            operation=operation,
        )
    if not 200 <= status < 300:
        raise ProtocolError(
            "a success envelope with an error status", operation=operation, status=status
        )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProtocolError("envelope data is not an object", operation=operation, status=status)
    return data


def _require_text(name: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(name, "must be a string")
    if (not value and not allow_empty) or len(value) > _CREDENTIAL_LIMIT:
        raise InvalidInputError(name, f"must be 1 to {_CREDENTIAL_LIMIT} characters")
    if _CONTROL.search(value):
        raise InvalidInputError(name, "must not contain control characters")
    return value


def _bearer(tokens: TokenSet | str) -> str:
    """The access token of a token set, or a bearer given as it is."""
    bearer = tokens.access_token if isinstance(tokens, TokenSet) else tokens
    if not isinstance(bearer, str) or not _BEARER.fullmatch(bearer):
        raise InvalidInputError("tokens", "must be a TokenSet or a bearer access token")
    return bearer


class ClientCalls:
    """The pure half of the client: one method per operation, returning a :class:`Call`."""

    def __init__(self, config: RedtrustConfig, verifier: TokenVerifier | None = None) -> None:
        self.config = config
        self.verifier = verifier

    def _request(self, operation: str, endpoint: Endpoint, **kwargs: Any) -> ApiRequest:
        return ApiRequest(
            operation=operation,
            method=endpoint.method,
            url=self.config.url(endpoint.path),
            **kwargs,
        )

    def _tokens(
        self, operation: str, previous: str | None = None
    ) -> Callable[[_http.RawResponse, float], TokenSet]:
        def parse(response: _http.RawResponse, now: float) -> TokenSet:
            data = parse_envelope(response, operation)
            return TokenSet.from_data(
                data,
                now=now,
                previous_refresh_token=previous,
                verifier=self.verifier,
                server_now=response.server_date,
            )

        return parse

    def exchange(self, temp_token: str) -> Call[TokenSet]:
        """Exchange the temporary ``tkn`` from the callback for a token set."""
        if not isinstance(temp_token, str) or not is_temp_token(temp_token):
            raise InvalidInputError("temp_token", "is missing or malformed")
        request = self._request(
            "exchange", self.config.profile.exchange, json_body={"temporalToken": temp_token}
        )
        return Call(request=request, parse=self._tokens("exchange"))

    def refresh(self, tokens: TokenSet) -> Call[TokenSet]:
        """Trade the refresh token for a new token set (the newest refresh token is kept)."""
        if not tokens.refresh_token:
            raise InvalidInputError("refresh_token", "this token set cannot be refreshed")
        profile = self.config.profile
        bearer = tokens.access_token if profile.refresh_sends_bearer else None
        request = self._request(
            "refresh",
            profile.refresh,
            bearer=bearer,
            json_body={"refreshToken": tokens.refresh_token},
            time_limit=self.config.refresh_deadline,  # an answer cut off leaves it unknown
        )
        return Call(request=request, parse=self._tokens("refresh", tokens.refresh_token))

    def login(self, username: str, password: str, domain: str | None = None) -> Call[TokenSet]:
        """Direct (server-to-server) login with a user's credentials."""
        body = {
            "username": _require_text("username", username),
            "password": _require_text("password", password),
        }
        domain = domain if domain is not None else self.config.domain
        if domain is not None:
            body["domain"] = _require_text("domain", domain)
        request = self._request("login", self.config.profile.login, json_body=body)
        return Call(request=request, parse=self._tokens("login"))

    def logout(self, tokens: TokenSet) -> Call[bool] | None:
        """Invalidate the session remotely; None when the profile has no remote logout."""
        endpoint = self.config.profile.logout
        if endpoint is None:
            return None

        def parse(response: _http.RawResponse, now: float) -> bool:
            parse_envelope(response, "logout")
            return True

        return Call(
            request=self._request("logout", endpoint, bearer=tokens.access_token), parse=parse
        )

    def create_csr(
        self,
        tokens: TokenSet | str,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        **options: Unpack[CsrOptions],
    ) -> Call[CsrRequest]:
        """Have Redtrust generate a key pair for the user and sign a CSR for ``dn``.

        Every input is validated first (:meth:`CsrSpec.build`); the call is unrepeatable.
        """
        bearer = _bearer(tokens)
        spec = CsrSpec.build(dn, thumbprint_to_renew=thumbprint_to_renew, **options)

        def parse(response: _http.RawResponse, now: float) -> CsrRequest:
            data = parse_envelope(response, "csr_create")
            return parse_created(
                data, status=response.status, thumbprint_to_renew=spec.thumbprint_to_renew
            )

        request = self._request(
            "csr_create",
            self.config.profile.csr_create,
            bearer=bearer,
            json_body=spec.body(),
            unrepeatable=True,
        )
        return Call(request=request, parse=parse)

    def finalize_csr(
        self, tokens: TokenSet | str, request_code: str, certificate: CertificateInput
    ) -> Call[IssuedCertificate]:
        """Complete the request ``request_code`` with the certificate the partner's CA issued.

        Unrepeatable: a lost answer is an :class:`OutcomeUnknownError` with the request code.
        """
        bearer = _bearer(tokens)
        code = validate_request_code(request_code)
        issued = certificate_of(certificate)
        pem = issued.public_bytes(serialization.Encoding.PEM).decode("ascii")

        def parse(response: _http.RawResponse, now: float) -> IssuedCertificate:
            data = parse_envelope(response, "csr_finalize")
            return parse_finalized(data, status=response.status, certificate=issued)

        request = self._request(
            "csr_finalize",
            self.config.profile.csr_finalize,
            bearer=bearer,
            json_body={"requestCode": code, "certificate": pem},
            unrepeatable=True,
            request_code=code,
        )
        return Call(request=request, parse=parse)

    @staticmethod
    def check_issuer(issue: object) -> None:
        """Refuse a missing issuer before anything is sent."""
        if not callable(issue):
            raise InvalidInputError("issue", "must be a callable that signs a CSR")

    @staticmethod
    def issued_for(request: CsrRequest, certificate: object) -> x509.Certificate:
        """What the issuer returned, as a certificate for the request's key (else refused)."""
        issued = certificate_of(certificate)
        check_issued_for(request.csr, issued)
        return issued

    def headers(self, request: ApiRequest, now: float) -> dict[str, str]:
        """Headers for one attempt: a fresh HMAC stamp, and the bearer when there is one."""
        headers = signed_stamp(self.config.partner, self.config.shared_secret, now).headers()
        if request.bearer is not None:
            headers["Authorization"] = f"Bearer {request.bearer}"
        return headers

    def attempts(self) -> Iterator[float]:
        """Delays before each attempt: none first, then jittered backoff for retries."""
        yield 0.0
        for attempt in range(self.config.connect_retries):
            yield 0.1 * (2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter only

    def give_up(self, request: ApiRequest, error: TransportError, last: bool) -> Exception | None:
        """The error to raise after a failed attempt, or None to try again."""
        if error.reached_server and request.unrepeatable:
            return OutcomeUnknownError(
                operation=request.operation, request_code=request.request_code
            )
        if error.reached_server or last:
            return error
        return None


def _make_verifier(config: RedtrustConfig) -> TokenVerifier | None:
    if config.jwks is None:
        return None
    return TokenVerifier(
        config.jwks,
        algorithms=config.jwt_algorithms,
        issuer=config.jwt_issuer,
        leeway=config.jwt_leeway,
    )


class _ClientBase:
    def __init__(self, config: RedtrustConfig, clock: Clock) -> None:
        self.config = config
        self.calls = ClientCalls(config, _make_verifier(config))
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

    def _failed(
        self, request: ApiRequest, started: float, error: TransportError, *, last: bool
    ) -> None:
        """Log a failed attempt; raise unless it may be tried again."""
        self._log(request, started, type(error).__name__)
        failure = self.calls.give_up(request, error, last)
        if failure is not None:
            raise failure from None

    def _parsed(self, call: Call[T], started: float, raw: _http.RawResponse) -> T:
        self._log(call.request, started, str(raw.status))
        return call.parse(raw, self._clock())

    def _log(self, request: ApiRequest, started: float, outcome: str) -> None:
        logger.debug(
            "redtrust %s -> %s in %.0f ms",
            request.operation,
            outcome,
            (time.perf_counter() - started) * 1000,
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
        request = call.request
        schedule = list(self.calls.attempts())
        for index, delay in enumerate(schedule):
            if delay:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                raw = _http.send(self._http, **self._send_arguments(request))
            except TransportError as error:
                self._failed(request, started, error, last=index == len(schedule) - 1)
                continue
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
        request = call.request
        schedule = list(self.calls.attempts())
        for index, delay in enumerate(schedule):
            if delay:
                await anyio.sleep(delay)
            started = time.perf_counter()
            try:
                raw = await _http.async_send(self._http, **self._send_arguments(request))
            except TransportError as error:
                self._failed(request, started, error, last=index == len(schedule) - 1)
                continue
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
