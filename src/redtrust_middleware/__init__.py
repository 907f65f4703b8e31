"""redtrust-middleware: sign users in with Redtrust Certificate Enroll, keep their token fresh.

The core is framework-agnostic (its ASGI and WSGI middleware need no framework);
``redtrust_django`` and ``redtrust_starlette`` adapt it.
"""

from ._clock import Clock, system_clock
from .asgi import RedtrustASGIMiddleware
from .certificates import (
    CsrOptions,
    CsrRequest,
    DNAttribute,
    Enrollment,
    IssuedCertificate,
    dn_from_name,
)
from .client import AsyncClient, AsyncUserClient, Client, UserClient, bind_client
from .config import CERTIFICATE_ENROLL, PROFILES, RA_API, Endpoint, Profile, RedtrustConfig
from .exceptions import (
    APIError,
    CallbackError,
    ClockSkewError,
    ConfigurationError,
    InvalidCallbackError,
    InvalidInputError,
    LoginExpiredError,
    NotAuthenticatedError,
    OutcomeUnknownError,
    ProtocolError,
    RedtrustError,
    RefreshFailedError,
    SessionError,
    SignatureError,
    StoreError,
    TokenError,
    TransportError,
    UnusableAnswerError,
    UpstreamError,
    UpstreamTimeout,
)
from .hooks import Hooks, LoginEvent, LogoutEvent, LogoutReason, RefreshEvent
from .login import validate_next
from .session import (
    ActiveSession,
    AsyncSessionManager,
    LoginDone,
    LoginStart,
    SessionManager,
)
from .signing import sign, signed_stamp, verify
from .stores import AsyncStore, Keyring, MemoryStore, Store
from .tokens import TokenSet, TokenVerifier
from .web import RedtrustContext
from .wsgi import RedtrustWSGIMiddleware

__version__ = "0.1.0"

__all__ = [
    "CERTIFICATE_ENROLL",
    "PROFILES",
    "RA_API",
    "APIError",
    "ActiveSession",
    "AsyncClient",
    "AsyncSessionManager",
    "AsyncStore",
    "AsyncUserClient",
    "CallbackError",
    "Client",
    "Clock",
    "ClockSkewError",
    "ConfigurationError",
    "CsrOptions",
    "CsrRequest",
    "DNAttribute",
    "Endpoint",
    "Enrollment",
    "Hooks",
    "InvalidCallbackError",
    "InvalidInputError",
    "IssuedCertificate",
    "Keyring",
    "LoginDone",
    "LoginEvent",
    "LoginExpiredError",
    "LoginStart",
    "LogoutEvent",
    "LogoutReason",
    "MemoryStore",
    "NotAuthenticatedError",
    "OutcomeUnknownError",
    "Profile",
    "ProtocolError",
    "RedtrustASGIMiddleware",
    "RedtrustConfig",
    "RedtrustContext",
    "RedtrustError",
    "RedtrustWSGIMiddleware",
    "RefreshEvent",
    "RefreshFailedError",
    "SessionError",
    "SessionManager",
    "SignatureError",
    "Store",
    "StoreError",
    "TokenError",
    "TokenSet",
    "TokenVerifier",
    "TransportError",
    "UnusableAnswerError",
    "UpstreamError",
    "UpstreamTimeout",
    "UserClient",
    "__version__",
    "bind_client",
    "dn_from_name",
    "sign",
    "signed_stamp",
    "system_clock",
    "validate_next",
    "verify",
]
