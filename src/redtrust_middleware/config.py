"""Configuration: one frozen :class:`RedtrustConfig`, the two endpoint profiles, ``from_env()``.

Everything is validated when the object is built, so a misconfiguration fails at start-up
with a :class:`~redtrust_middleware.exceptions.ConfigurationError` naming the field, never at
the first request. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ._hosts import is_loopback
from ._settings import (
    ENVIRONMENT,
    Collected,
    ConfigProblem,
    Kind,
    Setting,
    Source,
    close_match,
    collect,
    combined_error,
    read_values,
    setting_table,
)
from .certificates import CsrRules
from .exceptions import ConfigurationError, InvalidInputError
from .logevents import log
from .login import is_local_path
from .signing import PARTNER_PATTERN

__all__ = [
    "CERTIFICATE_ENROLL",
    "ENVIRONMENT",
    "PROFILES",
    "RA_API",
    "SETTINGS",
    "Collected",
    "ConfigProblem",
    "Endpoint",
    "Profile",
    "RedtrustConfig",
    "Source",
    "collect_config",
    "combined_error",
    "read_endpoints",
    "read_environment",
    "read_mapping",
]

logger = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
_MIN_SECRET_LENGTH = 16
_MIN_KEY_LENGTH = 32
_WEAK_HASHES = frozenset({"MD2", "MD4", "MD5", "SHA1", "SHA-1"})
#: The certificate settings' defaults (field names: the sandbox's, for both profiles).
_CSR_DEFAULTS = CsrRules()
_CSR_FIELD_NAMES = (
    "csr_fields",
    "csr_request_code_field",
    "finalize_request_code_field",
    "finalize_certificate_field",
    "finalize_id_field",
    "finalize_thumbprint_field",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One remote operation: an HTTP method and a path below the server URL."""

    method: str
    path: str

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ConfigurationError("method", f"must be one of {sorted(_METHODS)}")
        if not _PATH.fullmatch(self.path) or "//" in self.path:
            raise ConfigurationError("path", "must be an absolute path such as /authapi/v1/x")

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Read ``"METHOD /path"`` (the form used in environment variables)."""
        method, _, path = text.strip().partition(" ")
        return cls(method=method.upper(), path=path.strip())

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Where each operation lives on a Redtrust server (``redtrust-api.md`` §6).

    Override any endpoint with :func:`dataclasses.replace`, e.g.
    ``replace(RA_API, refresh=Endpoint(method="PUT", path="/custom/refresh"))``.
    """

    name: str
    default_port: int
    exchange: Endpoint
    refresh: Endpoint
    refresh_sends_bearer: bool
    login: Endpoint
    logout: Endpoint | None
    csr_create: Endpoint
    csr_finalize: Endpoint
    #: Field names of the certificate calls (not published, §5: the sandbox's by default);
    #: the ``RedtrustConfig`` fields of the same names override them.
    csr_fields: tuple[str, ...] = _CSR_DEFAULTS.csr_fields
    csr_request_code_field: str = _CSR_DEFAULTS.csr_request_code_field
    finalize_request_code_field: str = _CSR_DEFAULTS.finalize_request_code_field
    finalize_certificate_field: str = _CSR_DEFAULTS.finalize_certificate_field
    finalize_id_field: str = _CSR_DEFAULTS.finalize_id_field
    finalize_thumbprint_field: str = _CSR_DEFAULTS.finalize_thumbprint_field

    #: Names of the endpoint fields, for overrides by name.
    ENDPOINTS: ClassVar[tuple[str, ...]] = (
        "exchange",
        "refresh",
        "login",
        "logout",
        "csr_create",
        "csr_finalize",
    )


_RA = "/raapi/v1"

#: The tutorial (doc 4.33): exchange by GET with a JSON body, refresh with a bearer, no logout.
CERTIFICATE_ENROLL = Profile(
    name="certificate-enroll",
    default_port=8083,
    exchange=Endpoint(method="GET", path="/authapi/v1/login_by_temp_token"),
    refresh=Endpoint(method="PUT", path="/authapi/v1/refresh-token"),
    refresh_sends_bearer=True,
    login=Endpoint(method="POST", path=f"{_RA}/auth/login"),
    logout=None,
    csr_create=Endpoint(method="POST", path=f"{_RA}/csr/create"),
    csr_finalize=Endpoint(method="PUT", path=f"{_RA}/csr/finalize"),
)

#: The RA API (doc 4.42): exchange by POST, refresh under /raapi without a bearer, remote logout.
RA_API = Profile(
    name="ra-api",
    default_port=8082,
    exchange=Endpoint(method="POST", path="/authapi/v1/login_by_temp_token"),
    refresh=Endpoint(method="PUT", path=f"{_RA}/auth/refresh-token"),
    refresh_sends_bearer=False,
    login=Endpoint(method="POST", path=f"{_RA}/auth/login"),
    logout=Endpoint(method="DELETE", path=f"{_RA}/auth/logout"),
    csr_create=Endpoint(method="POST", path=f"{_RA}/csr/create"),
    csr_finalize=Endpoint(method="PUT", path=f"{_RA}/csr/finalize"),
)

PROFILES: Mapping[str, Profile] = {p.name: p for p in (CERTIFICATE_ENROLL, RA_API)}


def _partner_problem(given: object) -> str:
    """Why a partner name is refused, naming the characters at fault (lower case is fine:
    it is upper-cased), never the name itself."""
    text = given.strip() if isinstance(given, str) else ""
    rule = "must be letters, digits and '_' (lower case is upper-cased for you)"
    if not text:
        return rule
    if not text.isascii():
        return f"{rule}; only ASCII letters"
    wrong = sorted({c for c in text.upper() if not PARTNER_PATTERN.fullmatch(c)})
    shown = ", ".join(repr(c) for c in wrong)
    fix = "; write '_' instead of '-'" if "-" in wrong else ""
    return f"{rule}; {shown} cannot be part of it{fix}"


def _base_url(name: str, value: str, *, default_port: int | None) -> str:
    """Normalise a base URL: scheme, host, port, optional path prefix; no query or fragment."""
    if not value or value != value.strip() or any(ord(c) < 0x21 for c in value):
        raise ConfigurationError(name, "must be a URL such as https://redtrust.example:8083")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(name, "must be an http(s) URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(name, "must not carry a query, fragment or credentials")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(name, "has an invalid port") from None
    host = parts.hostname
    host_text = f"[{host}]" if ":" in host else host
    if default_port is None and port == {"https": 443, "http": 80}[parts.scheme]:
        port = None  # public URLs: one spelling per origin, as browsers send it in Origin
    if port is None:
        port = default_port
    netloc = host_text if port is None else f"{host_text}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RedtrustConfig:
    """Everything the library needs to talk to one Redtrust server for one partner app.

    Only ``server_url``, ``partner`` and ``shared_secret`` are required. Durations are seconds.

    Raises:
        ConfigurationError: a field is missing or invalid (``error.field`` names it).
    """

    #: Base URL of the Redtrust server; the profile's port is used when the URL has none.
    server_url: str
    #: The partner (client application) name, upper case ``[A-Z0-9_]+``.
    partner: str
    #: The shared HMAC secret (never shown in ``repr``).
    shared_secret: str = field(repr=False)
    #: The user domain sent as ``Domain`` on the login redirect, if any.
    domain: str | None = None
    profile: Profile = CERTIFICATE_ENROLL
    #: ``Consumer`` on the login redirect (``SIGN_SERVICE`` for the Sign Service).
    consumer: str = "RA_API"
    #: The app's public base URL, used to build ``RedirectUrl`` (never taken from ``Host``).
    public_url: str | None = None
    login_path: str = "/redtrust/login"
    callback_path: str = "/redtrust/callback"
    logout_path: str = "/redtrust/logout"
    #: Put the login nonce in ``RedirectUrl`` and require it back (the registered redirect URL
    #: must then allow a query). Turn off when Redtrust only accepts the exact URL.
    nonce_in_redirect: bool = True
    #: Where users land after sign-in when ``next`` is missing or refused.
    default_next: str = "/"
    #: Absolute https origins that ``next`` may point to (``https://app.example``).
    allowed_next_origins: tuple[str, ...] = ()
    #: CA bundle for on-premise servers signed by a private CA.
    ca_bundle: str | None = None
    verify_tls: bool = True
    #: Timeout of each call to Redtrust (connect, read, write and pool).
    timeout: float = 10.0
    #: Deadline of the token refresh call (read and write; connecting stays within
    #: ``timeout``). ``None``: three times ``timeout``. A refresh that outlives it has an
    #: unknown outcome, so its refresh token is never presented again; a longer deadline
    #: lets a slow Redtrust finish the rotation. Requests whose access token is still valid
    #: do not wait for it longer than ``timeout`` (see :attr:`refresh_deadline`).
    refresh_timeout: float | None = None
    #: Retries of a call that never reached the server (connection refused), with jitter.
    connect_retries: int = 2
    #: Largest response body accepted from Redtrust.
    max_response_bytes: int = 1024 * 1024
    #: Refresh when the access token expires within this many seconds.
    refresh_leeway: float = 60.0
    pending_login_ttl: float = 600.0
    max_pending_logins: int = 5
    idle_timeout: float = 1800.0
    absolute_timeout: float = 8 * 3600.0
    #: Sessions this process keeps opened in memory (decrypted and parsed, with their store
    #: keys): beyond it, a request for a session not among the most recently opened ones
    #: opens its record again (~10 µs). Size it to the active sessions one process serves;
    #: with :class:`~redtrust_middleware.stores.MemoryStore`, to its ``max_entries``.
    local_sessions: int = 100_000
    #: Keys that encrypt everything at rest; the first encrypts, all decrypt (rotation).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    #: A JWK set (``{"keys": [...]}``) that signs access tokens; when set, tokens are verified.
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    jwt_algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")
    jwt_issuer: str | None = None
    jwt_leeway: int = 30
    # Certificate requests: what Redtrust does not publish (redtrust-api.md §5) is a setting.
    #: DN attribute names beyond the built-in ones, name -> dotted OID, e.g.
    #: ``{"pseudonym": "2.5.4.65"}``; any dotted OID is accepted as an attribute as it is.
    dn_attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: Accepted ``hashType`` values; SHA-1 (or MD5) only when listed here.
    hash_types: tuple[str, ...] = _CSR_DEFAULTS.hash_types
    #: Accepted ``keyType:keyLength`` pairs, e.g. ``("RSA:2048", "EC:256")``.
    key_lengths: tuple[str, ...] = _CSR_DEFAULTS.key_lengths
    #: ``csr/create`` answer fields that may hold the CSR (PEM or base64 DER), tried in order.
    #: ``None`` here and below: the profile's (the sandbox's names).
    csr_fields: tuple[str, ...] | None = None
    #: ``csr/create`` answer field of the request code.
    csr_request_code_field: str | None = None
    #: ``csr/finalize`` request fields of the request code and the PEM certificate.
    finalize_request_code_field: str | None = None
    finalize_certificate_field: str | None = None
    #: ``csr/finalize`` answer fields of the certificate's id and thumbprint.
    finalize_id_field: str | None = None
    finalize_thumbprint_field: str | None = None

    def __post_init__(self) -> None:
        try:
            self._check()
        except ConfigurationError as error:
            setting = _SETTINGS_BY_NAME.get(error.field)
            if setting is None or error.variable is not None:
                raise
            # Named as set in code and in the environment: the fix is found either way.
            raise ConfigurationError(
                error.field, error.problem, variable=setting.variable
            ) from None

    def _check(self) -> None:
        profile: object = self.profile  # a name is accepted too, for untyped callers
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ConfigurationError("profile", f"must be one of {sorted(PROFILES)}")
            object.__setattr__(self, "profile", PROFILES[profile])
        elif not isinstance(profile, Profile):
            raise ConfigurationError("profile", "must be a Profile or a profile name")
        partner = self.partner.strip() if isinstance(self.partner, str) else ""
        partner = partner.upper() if partner.isascii() else ""  # no "ß" -> "SS" surprises
        if not PARTNER_PATTERN.fullmatch(partner):
            raise ConfigurationError("partner", _partner_problem(self.partner))
        object.__setattr__(self, "partner", partner)
        if isinstance(self.dn_attributes, Mapping):  # a read-only copy: checked once, kept
            object.__setattr__(self, "dn_attributes", MappingProxyType(dict(self.dn_attributes)))
        if not isinstance(self.shared_secret, str) or not self.shared_secret:
            raise ConfigurationError("shared_secret", "is required")
        if len(self.shared_secret) < _MIN_SECRET_LENGTH:
            log(
                logger,
                "redtrust.config.short_secret",
                "redtrust: shared_secret is shorter than %d characters",
                _MIN_SECRET_LENGTH,
            )
        server_url = _base_url(
            "server_url", self.server_url, default_port=self.profile.default_port
        )
        object.__setattr__(self, "server_url", server_url)
        host = urlsplit(server_url).hostname or ""
        if server_url.startswith("http://"):
            if not is_loopback(host):
                raise ConfigurationError("server_url", "must use https (http only for loopback)")
            log(
                logger,
                "redtrust.config.plain_http",
                "redtrust: plain http to %s (allowed for a local sandbox only)",
                host,
            )
        if self.public_url is not None:
            object.__setattr__(
                self, "public_url", _base_url("public_url", self.public_url, default_port=None)
            )
        if self.domain is not None and (not self.domain or self.domain != self.domain.strip()):
            raise ConfigurationError("domain", "must be a non-empty name without spaces")
        if not re.fullmatch(r"[A-Z_]+", self.consumer):
            raise ConfigurationError("consumer", "must be upper case, e.g. RA_API")
        for name in ("login_path", "callback_path", "logout_path"):
            value = getattr(self, name)
            if not _PATH.fullmatch(value) or "//" in value or "%" in value:
                raise ConfigurationError(name, "must be an absolute path such as /redtrust/x")
        if not is_local_path(self.default_next):
            raise ConfigurationError("default_next", "must be a local path starting with /")
        for origin in self.allowed_next_origins:
            parts = urlsplit(origin)
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigurationError("allowed_next_origins", "must be https origins")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigurationError("ca_bundle", "file not found")
        if not self.verify_tls:
            log(
                logger,
                "redtrust.config.tls_unverified",
                "redtrust: TLS verification is OFF (verify_tls=False)",
            )
        self._check_numbers()
        for key in self.encryption_keys:
            if len(key) < _MIN_KEY_LENGTH:
                raise ConfigurationError(
                    "encryption_keys", f"each key needs at least {_MIN_KEY_LENGTH} characters"
                )
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ConfigurationError("jwks", "must be a JWK set: {'keys': [...]}")
        unsafe = [
            a for a in self.jwt_algorithms if not re.fullmatch(r"(RS|PS|ES)(256|384|512)|EdDSA", a)
        ]
        if unsafe or not self.jwt_algorithms:
            raise ConfigurationError("jwt_algorithms", "only asymmetric algorithms are allowed")
        self._check_csr_settings()

    def _check_csr_settings(self) -> None:
        try:
            rules = self.csr_rules()
        except InvalidInputError as error:
            raise ConfigurationError(error.field, error.problem) from None
        weak = [name for name in rules.hash_types if name in _WEAK_HASHES]
        if weak:
            log(
                logger,
                "redtrust.config.weak_hash",
                "redtrust: hash_types accepts %s, a weak hash",
                ", ".join(weak),
            )

    def csr_rules(self) -> CsrRules:
        """What certificate requests may hold and their field names (None: the profile's).

        Raises:
            InvalidInputError: naming the setting at fault (the config itself was checked).
        """
        profile = self.profile
        names = {
            name: getattr(profile, name) if getattr(self, name) is None else getattr(self, name)
            for name in _CSR_FIELD_NAMES
        }
        return CsrRules(
            dn_attributes=self.dn_attributes,
            hash_types=self.hash_types,
            key_lengths=self.key_lengths,
            **names,
        )

    def _check_numbers(self) -> None:
        bounds: dict[str, tuple[float, float]] = {
            "timeout": (0.1, 300),
            "connect_retries": (0, 5),
            "max_response_bytes": (1024, 64 * 1024 * 1024),
            "refresh_leeway": (0, 3600),
            "pending_login_ttl": (30, 3600),
            "max_pending_logins": (1, 50),
            "idle_timeout": (60, 30 * 86400),
            "absolute_timeout": (60, 90 * 86400),
            "local_sessions": (100, 10_000_000),
            "jwt_leeway": (0, 60),
        }
        if self.refresh_timeout is not None:
            bounds["refresh_timeout"] = (self.timeout, 900)
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (low <= value <= high)
            ):
                at_least = " (at least timeout)" if name == "refresh_timeout" else ""
                raise ConfigurationError(
                    name, f"must be a number from {low:g} to {high:g}{at_least}"
                )

    @property
    def refresh_deadline(self) -> float:
        """Seconds a refresh call may take: ``refresh_timeout``, else three times ``timeout``."""
        if self.refresh_timeout is not None:
            return float(self.refresh_timeout)
        return 3.0 * self.timeout

    @property
    def redirect_url(self) -> str | None:
        """The absolute callback URL, when ``public_url`` is configured."""
        return None if self.public_url is None else self.public_url + self.callback_path

    def url(self, path: str) -> str:
        """The absolute URL of a path on the Redtrust server."""
        return self.server_url + path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RedtrustConfig:
        """Build a config from ``REDTRUST_*`` environment variables (keywords win).

        Every field is read from ``REDTRUST_<FIELD>`` (``REDTRUST_TIMEOUT``,
        ``REDTRUST_CONSUMER``, ...; the table is :data:`SETTINGS`, documented in
        docs/configuration.md): lists comma separated, booleans ``true``/``false`` (also
        ``1``/``0``, ``yes``/``no``, ``on``/``off``), mappings ``name=value,name=value``.
        ``jwks`` is read from the JSON file named by ``REDTRUST_JWKS_FILE``, and
        ``REDTRUST_ENDPOINT_<NAME>`` (``"PUT /path"``) overrides one endpoint of the profile.
        An empty variable counts as unset.

        Raises:
            ConfigurationError: naming the environment variable at fault, what it must be and
                an example (never the value it holds); its message lists every other one.
        """
        env = os.environ if environ is None else environ
        collected = read_environment(env, overrides=overrides)
        error = collected.error()
        if error is not None:
            raise error
        assert collected.config is not None  # no problem: every required one was read
        return collected.config


def _profile_named(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError("unknown profile")
    return PROFILES[name]


def _profile_value(value: object) -> Profile:
    if isinstance(value, Profile):
        return value
    if isinstance(value, str):
        return _profile_named(value)
    raise TypeError("not a profile")


def _jwk_set_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        raise ValueError("unreadable JSON file") from None


def _jwk_set_value(value: object) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError("not a mapping")
    return value


def _as_text(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else ",".join(value)


#: Every field of :class:`RedtrustConfig` as a setting: its environment variable, its key in
#: Django's ``REDTRUST`` dict, how its value is written, its default and an example.
SETTINGS: tuple[Setting, ...] = setting_table(
    RedtrustConfig,
    prefix="REDTRUST_",
    special={
        "profile": Kind(
            must=f"must be one of {sorted(PROFILES)}",
            example=RA_API.name,
            parse=_profile_named,
            accept=_profile_value,
            show=lambda profile: profile.name,
            python_example=repr(RA_API.name),
            python_must=f"must be a Profile or one of {sorted(PROFILES)}",
        ),
        "jwks": Kind(
            must='must name a readable JSON file holding a JWK set {"keys": [...]}',
            example="/etc/redtrust/jwks.json",
            parse=_jwk_set_file,
            accept=_jwk_set_value,
            python_example='{"keys": [...]}',
            python_must='must be a JWK set {"keys": [...]}',
        ),
    },
    variables={"jwks": "REDTRUST_JWKS_FILE"},
    # For the fields whose default is no example (none, empty, or required).
    examples={
        "server_url": "https://redtrust.example:8083",
        "partner": "CA_DEMO",
        "shared_secret": "<the shared secret of your partner app>",
        "domain": "local.users",
        "public_url": "https://app.example",
        "allowed_next_origins": "https://app.example,https://shop.example",
        "ca_bundle": "/etc/ssl/certs/private-ca.pem",
        "refresh_timeout": "30",
        "encryption_keys": "<new key of 32+ random characters>,<previous key>",
        "jwt_issuer": "https://redtrust.example",
        "dn_attributes": "pseudonym=2.5.4.65,jurisdictionC=1.3.6.1.4.1.311.60.2.1.3",
        # The field names: the profile's own are examples.
        **{name: _as_text(getattr(CERTIFICATE_ENROLL, name)) for name in _CSR_FIELD_NAMES},
    },
)
_SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


# --- reading a whole config, every problem at once ------------------------------------------


def collect_config(
    values: Mapping[str, Any],
    problems: Sequence[ConfigProblem] = (),
    *,
    source: Source = ENVIRONMENT,
    code: Collection[str] = (),
    capture: bool = False,
) -> Collected[RedtrustConfig]:
    """Build a :class:`RedtrustConfig` from ``values`` (by field name), finding every problem.

    ``problems`` are those found while reading the values (they come first); the config's own
    refusals are named as ``source`` names its settings (as keywords for fields in ``code``).
    With ``capture``, the config's warnings are kept in :attr:`Collected.warnings` instead of
    logged (an application keeps logging them: ``capture`` is for the doctor).
    """
    return collect(
        RedtrustConfig,
        SETTINGS,
        values,
        problems,
        source=source,
        logger=__name__,
        code=code,
        capture=capture,
    )


def read_endpoints(
    given: Mapping[Any, object],
    *,
    name: Callable[[Any], str],
    example: Callable[[str, Endpoint], str],
) -> tuple[dict[str, Endpoint], list[ConfigProblem]]:
    """Endpoint overrides (``{"refresh": "PUT /custom/path"}``) and every problem with them.

    ``name`` shows an endpoint's setting in an error, ``example`` a valid value there (from
    the RA API profile's endpoint).
    """
    endpoints: dict[str, Endpoint] = {}
    problems: list[ConfigProblem] = []
    for key, text in given.items():
        if key not in Profile.ENDPOINTS:
            hint = close_match(str(key).upper(), [n.upper() for n in Profile.ENDPOINTS])
            problems.append(
                ConfigProblem(
                    name=name(key),
                    problem=f"is not an endpoint; one of {', '.join(Profile.ENDPOINTS)}"
                    f"{hint.lower()}",
                )
            )
            continue
        try:
            endpoints[key] = Endpoint.parse(text if isinstance(text, str) else "")
        except ConfigurationError as error:
            fix = f"for example {example(key, getattr(RA_API, key))}"
            problems.append(ConfigProblem(name=name(key), problem=error.problem, fix=fix))
    return endpoints, problems


def _endpoint_variable(name: str) -> str:
    return f"REDTRUST_ENDPOINT_{name.upper()}"


def read_environment(
    environ: Mapping[str, str], *, overrides: Mapping[str, Any] | None = None, capture: bool = False
) -> Collected[RedtrustConfig]:
    """What :meth:`RedtrustConfig.from_env` reads, with every bad or missing variable at once.

    ``overrides`` are keywords given in code: not read, named as keywords when refused.
    ``redtrust doctor`` prints the problems; ``from_env`` raises them.
    """
    given = dict(overrides or {})
    values, problems = read_values(SETTINGS, environ, ENVIRONMENT, skip=given)
    set_endpoints = {
        name: environ[_endpoint_variable(name)]
        for name in Profile.ENDPOINTS
        if environ.get(_endpoint_variable(name))
    }
    endpoints, wrong = read_endpoints(
        set_endpoints,
        name=_endpoint_variable,
        example=lambda name, endpoint: f"{_endpoint_variable(name)}={endpoint}",
    )
    values["profile"] = replace(values.get("profile", CERTIFICATE_ENROLL), **endpoints)
    values.update(given)
    return collect_config(values, [*problems, *wrong], code=given, capture=capture)


def read_mapping(
    values: Mapping[str, object],
    source: Source,
    *,
    skip: Collection[str] = (),
    required: Collection[str] = (),
    own: Collection[str] = (),
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The settings given as Python values in a front-end's mapping, and every problem.

    ``source`` says where the keys are and how they are named (Django's ``REDTRUST`` dict:
    ``Source(label="REDTRUST[{key!r}]")``; ``app.config`` of Flask:
    ``Source(key="REDTRUST_{key}", label="app.config[{key!r}]", example="{key} = {python}")``).
    Fields in ``skip`` are the front-end's to set; those in ``required`` are required there
    too; keys in ``own`` are the front-end's own options (others are refused, with a close
    spelling). Add what the front-end sets, then build with :func:`collect_config`
    (``source=`` the same).
    """
    return read_values(SETTINGS, values, source, skip=skip, required=required, own=own)
