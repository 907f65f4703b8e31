"""A faithful local Redtrust server for tests, demos and development.

One :class:`Sandbox` serves the browser login page, the token API of both profiles
(``certificate-enroll`` and ``ra-api``) and the RA API certificate requests from a single
synchronous handler (:meth:`Sandbox.handle`), reachable in-process through ``httpx2`` mock
transports or over sockets through its ASGI app (:func:`serve`, :func:`running`). It checks
every HMAC and every certificate request with its own code, written from the Redtrust
documentation and sharing nothing with the client's (so a client bug shows up as a refusal),
signs ES256 access tokens (public keys at :meth:`Sandbox.jwks` and
``GET /_sandbox/jwks.json``), counts calls per endpoint and
can inject faults (:meth:`Sandbox.fail_next`, :meth:`Sandbox.misbehave_next`,
:meth:`Sandbox.drop_next`, :attr:`Sandbox.latency`, :meth:`Sandbox.change_faults`; over a
socket ``POST /_sandbox/faults`` and ``redtrust sandbox-fault``). Its memory is bounded:
every record table is capped and forgets expired and ended records on the sandbox's clock
(``SandboxConfig.retention_seconds`` and ``max_*``; :meth:`Sandbox.record_counts`).
:class:`DemoCA` plays the partner's CA that signs the sandbox's CSRs. The sandbox logs one line
per request on the ``redtrust_middleware.sandbox`` logger, never a query string;
:func:`printable` is how it makes what a client sent safe for such a line (``redtrust demo``
prints its app's requests the same way).

Endpoints:

=======  ====================================  ==============  ============================
method   path                                  endpoint name   answer
=======  ====================================  ==============  ============================
GET      ``/authclient/auth/loginrequest``     loginrequest    HTML sign-in form
POST     ``/authclient/auth/login``            login_form      302 to RedirectUrl + ``tkn``
GET/POST ``/authapi/v1/login_by_temp_token``   exchange        token data
PUT      ``/authapi/v1/refresh-token``         refresh         token data (bearer required)
PUT      ``/raapi/v1/auth/refresh-token``      refresh         token data
POST     ``/raapi/v1/auth/login``              login           token data
DELETE   ``/raapi/v1/auth/logout``             logout          ``data: {}``
POST     ``/raapi/v1/csr/create``              csr_create      ``csr`` (PEM), ``requestCode``
PUT      ``/raapi/v1/csr/finalize``            csr_finalize    ``idCertificate``, ``thumbprint``
GET      ``/_sandbox/stats``                   (not counted)   ``data.calls``
POST     ``/_sandbox/reset``                   (not counted)   zeroes the counters
GET      ``/_sandbox/jwks.json``               (not counted)   bare JWK set
GET/POST ``/_sandbox/faults``                  (not counted)   the fault plan; POST changes it
=======  ====================================  ==============  ============================

The ``errorCode`` values and HTTP statuses are listed in :mod:`._errors` and
``docs/sandbox.md``.
"""

from __future__ import annotations

from ._asgi import printable
from ._ca import DemoCA, pem
from ._config import ExpirationFormat, SandboxConfig
from ._enroll import CertificateInfo, thumbprint_of
from ._errors import (
    CONTROL_FORBIDDEN,
    EXPIRED_BEARER,
    EXPIRED_LOGIN_ATTEMPT,
    EXPIRED_REFRESH_TOKEN,
    EXPIRED_TEMPORAL_TOKEN,
    FOREIGN_REQUEST_CODE,
    INTERNAL_ERROR,
    INVALID_BEARER,
    INVALID_CERTIFICATE,
    INVALID_CONSUMER,
    INVALID_CREDENTIALS,
    INVALID_DOMAIN,
    INVALID_LOGIN_ATTEMPT,
    INVALID_REDIRECT_URL,
    INVALID_REFRESH_TOKEN,
    INVALID_REQUEST,
    INVALID_TEMPORAL_TOKEN,
    KEY_MISMATCH,
    METHOD_NOT_ALLOWED,
    MISSING_BEARER,
    NOT_FOUND,
    OK,
    PAYLOAD_TOO_LARGE,
    REQUEST_CODE_USED,
    SANDBOX_FAULT,
    TOO_MANY_LOGIN_ATTEMPTS,
    UNKNOWN_CERTIFICATE,
    UNKNOWN_REQUEST_CODE,
)
from ._faults import Fault, FaultChange
from ._hostile import HOSTILE_KINDS, HostileKind
from ._routes import format_expiration
from ._sandbox import ENDPOINTS, Sandbox
from ._state import REFRESH_REUSE, SessionInfo
from .server import running, serve

__all__ = [
    "CONTROL_FORBIDDEN",
    "ENDPOINTS",
    "EXPIRED_BEARER",
    "EXPIRED_LOGIN_ATTEMPT",
    "EXPIRED_REFRESH_TOKEN",
    "EXPIRED_TEMPORAL_TOKEN",
    "FOREIGN_REQUEST_CODE",
    "HOSTILE_KINDS",
    "INTERNAL_ERROR",
    "INVALID_BEARER",
    "INVALID_CERTIFICATE",
    "INVALID_CONSUMER",
    "INVALID_CREDENTIALS",
    "INVALID_DOMAIN",
    "INVALID_LOGIN_ATTEMPT",
    "INVALID_REDIRECT_URL",
    "INVALID_REFRESH_TOKEN",
    "INVALID_REQUEST",
    "INVALID_TEMPORAL_TOKEN",
    "KEY_MISMATCH",
    "METHOD_NOT_ALLOWED",
    "MISSING_BEARER",
    "NOT_FOUND",
    "OK",
    "PAYLOAD_TOO_LARGE",
    "REFRESH_REUSE",
    "REQUEST_CODE_USED",
    "SANDBOX_FAULT",
    "TOO_MANY_LOGIN_ATTEMPTS",
    "UNKNOWN_CERTIFICATE",
    "UNKNOWN_REQUEST_CODE",
    "CertificateInfo",
    "DemoCA",
    "ExpirationFormat",
    "Fault",
    "FaultChange",
    "HostileKind",
    "Sandbox",
    "SandboxConfig",
    "SessionInfo",
    "format_expiration",
    "pem",
    "printable",
    "running",
    "serve",
    "thumbprint_of",
]
