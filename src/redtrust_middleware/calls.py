"""The Redtrust API operations as pure values: request builders and envelope parsers.

Each operation is a :class:`Call`: the request to send (:class:`ApiRequest`, unsigned) and the
parser that turns the answer into a value or a typed error. :class:`ClientCalls` builds every
call from the configuration; it does no I/O, so the sync and async drivers in
:mod:`redtrust_middleware.client` share it and differ only in how they send.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Unpack

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import _http
from .certificates import (
    CertificateInput,
    CsrOptions,
    CsrRequest,
    CsrSpec,
    DNInput,
    IssuedCertificate,
    certificate_of,
    check_issued_for,
    parse_created,
    parse_finalized,
    validate_request_code,
)
from .config import Endpoint, RedtrustConfig
from .exceptions import (
    APIError,
    InvalidInputError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
    UnusableAnswerError,
)
from .logevents import log
from .login import is_temp_token
from .signing import signed_stamp
from .tokens import TokenSet, TokenVerifier

__all__ = ["ApiRequest", "Call", "ClientCalls", "make_verifier", "parse_envelope"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CREDENTIAL_LIMIT = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BEARER = re.compile(r"[\x21-\x7e]{1,8192}")


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
    data = _success_data(response, operation)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProtocolError(
            "envelope data is not an object", operation=operation, status=response.status
        )
    return data


def _success_data(response: _http.RawResponse, operation: str) -> object:
    """The ``data`` of a success envelope, of any JSON type; else the typed error."""
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
        #: What certificate requests may hold and their field names (from the settings).
        self.csr_rules = config.csr_rules()

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

        Every input is validated first (:meth:`CsrSpec.build`); the call is unrepeatable. An
        answer that cannot be used raises :class:`UnusableAnswerError` with its request code.
        """
        bearer = _bearer(tokens)
        rules = self.csr_rules
        spec = CsrSpec.build(dn, thumbprint_to_renew=thumbprint_to_renew, rules=rules, **options)

        def parse(response: _http.RawResponse, now: float) -> CsrRequest:
            data = _success_data(response, "csr_create")
            if data is not None and not isinstance(data, dict):
                # Redtrust made a key pair and a request: say so, not "a protocol error".
                raise UnusableAnswerError(
                    "the csr/create answer's data is not an object",
                    operation="csr_create",
                    status=response.status,
                )
            return parse_created(
                data or {},
                status=response.status,
                thumbprint_to_renew=spec.thumbprint_to_renew,
                rules=rules,
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
        Once Redtrust answered success the certificate is stored, so an odd answer is returned
        with :attr:`IssuedCertificate.warnings` (each also logged), never raised.
        """
        bearer = _bearer(tokens)
        code = validate_request_code(request_code)
        issued = certificate_of(certificate)
        pem = issued.public_bytes(serialization.Encoding.PEM).decode("ascii")
        rules = self.csr_rules

        def parse(response: _http.RawResponse, now: float) -> IssuedCertificate:
            data = _success_data(response, "csr_finalize")
            result = parse_finalized(data, status=response.status, certificate=issued, rules=rules)
            for warning in result.warnings:
                log(
                    logger,
                    "redtrust.ra.warning",
                    "redtrust csr_finalize %s: %s",
                    code,
                    warning,
                    operation="csr_finalize",
                )
            return result

        body = {rules.finalize_request_code_field: code, rules.finalize_certificate_field: pem}
        request = self._request(
            "csr_finalize",
            self.config.profile.csr_finalize,
            bearer=bearer,
            json_body=body,
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


def make_verifier(config: RedtrustConfig) -> TokenVerifier | None:
    """The access-token verifier the configuration asks for (None without ``jwks``)."""
    if config.jwks is None:
        return None
    return TokenVerifier(
        config.jwks,
        algorithms=config.jwt_algorithms,
        issuer=config.jwt_issuer,
        leeway=config.jwt_leeway,
    )
