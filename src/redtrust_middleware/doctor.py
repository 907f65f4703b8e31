"""The checks of a deployment, written once for ``redtrust doctor`` and ``manage.py
redtrust_doctor``: the settings (every problem at once), ``PUBLIC_URL``, the connection and
TLS, the signature, the clock, Redis and the JWK set.

Each check gives :class:`Finding` values: ``ok``, ``warn`` or ``fail`` with the cause and the
fix (a ``skip`` says a check could not run because an earlier one failed). The front-ends only
read their settings and print a :class:`Report`; its exit code is non-zero on any failure.

The signature is checked with one signed exchange of a made-up temporary token: a server that
refuses the HMAC headers answers with a signature code (``INVALID_SIGNATURE``...), one that
accepts them refuses the token. No real token is consumed, and nothing else is sent.
"""

from __future__ import annotations

import logging
import secrets
import socket
import ssl
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from . import _http
from ._clock import Clock, system_clock
from ._settings import Setting
from .calls import ClientCalls, make_verifier
from .config import CERTIFICATE_ENROLL, RA_API, SETTINGS, Endpoint, Profile, RedtrustConfig
from .exceptions import (
    APIError,
    ConfigurationError,
    ProtocolError,
    RedtrustError,
    StoreError,
    TokenError,
    UpstreamError,
)
from .signing import SIGNATURE_CODES

__all__ = [
    "CLOCK_FAIL_SECONDS",
    "CLOCK_WARN_SECONDS",
    "REDIS_MIN_VERSION",
    "REDIS_URL_ENV",
    "Collected",
    "ConfigProblem",
    "Finding",
    "Report",
    "check_redis",
    "collect_config",
    "read_environ_all",
    "run_checks",
    "settings_findings",
]

Status = Literal["ok", "warn", "fail", "skip"]
#: Clock differences from the server's ``Date`` header (seconds, whole-second resolution).
CLOCK_WARN_SECONDS = 5
CLOCK_FAIL_SECONDS = 60
#: ``GETDEL`` (the store's atomic take) came with Redis 6.2.
REDIS_MIN_VERSION = (6, 2)
#: What ``RedisStore.from_env`` reads (named here too: the redis package is optional).
REDIS_URL_ENV = "REDTRUST_REDIS_URL"
_PROBE_TOKEN = "redtrust-doctor-probe"
_BY_NAME = {setting.name: setting for setting in SETTINGS}
_CONFIG_LOGGER = "redtrust_middleware.config"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One result: which check, how it went, the cause and the fix."""

    check: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """Every finding of one run, in order."""

    findings: tuple[Finding, ...]

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(f.status == "fail" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0 (warnings do not fail a deployment)."""
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        """The report as text: ``ok   check: message`` and a ``fix:`` line under each."""
        out: list[str] = []
        for finding in self.findings:
            out.append(f"{finding.status:<4} {finding.check}: {finding.message}")
            if finding.fix:
                out.append(f"     fix: {finding.fix}")
        failed = sum(f.status == "fail" for f in self.findings)
        warned = sum(f.status == "warn" for f in self.findings)
        out.append(
            f"{failed} failed, {warned} warning(s)" if failed or warned else "everything is ok"
        )
        return out


# --- settings: every problem at once ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    """One invalid or missing setting: the field (``setting`` when it is one) and why."""

    field: str
    problem: str
    setting: Setting | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Collected:
    """What :func:`collect_config` found.

    ``config`` is built from the valid settings, with defaults in place of the invalid ones;
    it is ``None`` when a required one is missing or invalid (then nothing can be checked
    against a server). ``warnings`` are the config's own start-up warnings (a short secret,
    plain http, TLS verification off).
    """

    config: RedtrustConfig | None
    problems: tuple[ConfigProblem, ...]
    warnings: tuple[str, ...] = ()


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().removeprefix("redtrust: "))


@contextmanager
def _config_warnings(capture: bool = True) -> Iterator[list[str]]:
    """The config's warnings while building it, kept here instead of logged (each attempt
    of :func:`collect_config` would log them again); nothing is kept without ``capture``."""
    if not capture:
        yield []
        return
    logger = logging.getLogger(_CONFIG_LOGGER)
    handler = _Captured()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.messages
    finally:
        logger.propagate = propagate
        logger.removeHandler(handler)


def collect_config(
    values: Mapping[str, Any], problems: Sequence[ConfigProblem] = (), *, capture: bool = False
) -> Collected:
    """Build a :class:`RedtrustConfig` from ``values`` (by field name), finding every problem.

    The config checks its fields one after the other and stops at the first bad one; here a
    bad field is recorded and replaced (by its default, or for a required one by a valid
    example) and the config is built again, so one run names them all. ``problems`` found
    while reading the values (a required one missing, a value of the wrong type) come first.
    With ``capture``, the config's warnings are kept in :attr:`Collected.warnings` instead of
    logged (an application keeps logging them: ``capture`` is for the doctor).
    """
    found = list(problems)
    values = dict(values)
    usable = not any(p.setting is None or p.setting.required for p in found)
    for problem in found:  # stand-ins for required settings that could not be read
        if problem.setting is not None and problem.setting.required:
            values.setdefault(problem.setting.name, _stand_in(problem.setting))
    replaced: set[str] = set()
    for _ in range(len(SETTINGS) + 1):
        with _config_warnings(capture) as warned:
            try:
                config = RedtrustConfig(**values)
            except ConfigurationError as error:
                setting = _BY_NAME.get(error.field)
                found.append(
                    ConfigProblem(field=error.field, problem=error.problem, setting=setting)
                )
                if setting is None or setting.name in replaced:
                    return Collected(config=None, problems=tuple(found))
                replaced.add(setting.name)
                if setting.required:
                    values[setting.name] = _stand_in(setting)
                    usable = False
                elif setting.name in values:
                    del values[setting.name]
                else:  # its default is refused because of another field: nothing to replace
                    return Collected(config=None, problems=tuple(found))
                continue
        return Collected(
            config=config if usable else None, problems=tuple(found), warnings=tuple(warned)
        )
    return Collected(config=None, problems=tuple(found))  # pragma: no cover - bounded above


def _stand_in(setting: Setting) -> Any:
    """A valid value for a required setting, so the other fields can still be checked."""
    return setting.kind.parse(setting.example)


def read_environ_all(environ: Mapping[str, str]) -> Collected:
    """:meth:`RedtrustConfig.from_env`, reporting every bad or missing variable at once.

    Once no problem is left, the config is built by ``from_env`` itself, so this agrees with
    what an application reads.
    """
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for setting in SETTINGS:
        unread = setting.unread_variable
        if unread is not None and environ.get(unread):
            problems.append(
                ConfigProblem(field=unread, problem=f"is not read: set {setting.variable} instead")
            )
        text = environ.get(setting.variable)
        if not text:
            if setting.required:
                problems.append(
                    ConfigProblem(field=setting.name, problem="is not set", setting=setting)
                )
            continue
        try:
            values[setting.name] = setting.kind.parse(text)
        except (ValueError, TypeError):
            problems.append(
                ConfigProblem(field=setting.name, problem=setting.kind.must, setting=setting)
            )
    overrides: dict[str, Endpoint] = {}
    for name in Profile.ENDPOINTS:
        variable = f"REDTRUST_ENDPOINT_{name.upper()}"
        if environ.get(variable):
            try:
                overrides[name] = Endpoint.parse(environ[variable])
            except ConfigurationError as error:
                example = getattr(RA_API, name)
                problems.append(
                    ConfigProblem(
                        field=variable, problem=f"{error.problem}; for example {variable}={example}"
                    )
                )
    values["profile"] = replace(values.get("profile", CERTIFICATE_ENROLL), **overrides)
    collected = collect_config(values, problems, capture=True)
    if collected.problems:
        return collected
    try:
        with _config_warnings():  # the same warnings as collected
            config = RedtrustConfig.from_env(environ)
    except ConfigurationError as error:  # a rule this reading does not know yet
        return Collected(
            config=None, problems=(ConfigProblem(field=error.field, problem=error.problem),)
        )
    return replace(collected, config=config)


def settings_findings(collected: Collected) -> list[Finding]:
    """The settings' findings for the environment: each problem names its variable."""
    findings: list[Finding] = []
    for problem in collected.problems:
        setting = problem.setting
        if setting is None:
            name, cause = problem.field, problem.problem
            cause, _, fix = cause.partition("; ")
        else:
            name, cause = setting.variable, problem.problem
            fix = f"for example {setting.variable}={setting.example}"
        findings.append(
            Finding(check="settings", status="fail", message=f"{name} {cause}", fix=fix)
        )
    if not findings:
        findings.append(Finding(check="settings", status="ok", message="every setting is valid"))
    findings += [Finding(check="settings", status="warn", message=w) for w in collected.warnings]
    return findings


# --- the checks -------------------------------------------------------------------------------


def run_checks(
    config: RedtrustConfig | None,
    *,
    settings: Sequence[Finding] = (),
    broken: Collection[str] = (),
    names: Mapping[str, str] | None = None,
    production: bool = True,
    redis_url: str | None = None,
    redis_prefix: str = "",
    clock: Clock = system_clock,
    transport: Any = None,
) -> Report:
    """Every check of a deployment, after the ``settings`` findings.

    Args:
        config: the config read (None when a required setting is missing or invalid: the
            checks needing it are skipped).
        settings: the findings of reading the settings, shown first.
        broken: the fields whose values were refused (their checks are not repeated).
        names: how the front-end names a setting in its advice, by field name
            (``{"public_url": "REDTRUST['PUBLIC_URL']"}``); the environment variable otherwise.
        production: https is required for a ``PUBLIC_URL`` that is not loopback.
        redis_url: the Redis the store (or the lock cache) uses, to check.
        clock: this machine's clock, compared with the server's ``Date``.
        transport: an HTTP transport for the signed request (tests); the TCP and TLS checks
            always open a real connection.
    """
    findings = list(settings)
    if config is None:
        findings.append(
            Finding(check="server", status="skip", message="not checked: fix the settings first")
        )
    else:
        named = dict(names or {})

        def name(field: str) -> str:
            return named.get(field) or _BY_NAME[field].variable

        if "public_url" not in broken:
            findings += _check_public_url(config, name, production)
        reached = transport is not None or _check_connection(config, name, findings)
        if reached:
            findings += _check_signature(config, name, clock, transport)
        else:
            findings.append(
                Finding(
                    check="signature",
                    status="skip",
                    message="not checked: the connection failed",
                )
            )
        if "jwks" not in broken:
            findings += _check_jwks(config, name)
    if redis_url is not None:
        findings += check_redis(redis_url, prefix=redis_prefix)
    return Report(tuple(findings))


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_public_url(config: RedtrustConfig, name: Any, production: bool) -> list[Finding]:
    variable = name("public_url")
    if config.public_url is None:
        return [
            Finding(
                check="public_url",
                status="fail",
                message=f"{variable} is not set: the sign-in's RedirectUrl is built from it",
                fix=f"set {variable} to the address users open, e.g. https://app.example",
            )
        ]
    parts = urlsplit(config.public_url)
    host = parts.hostname or ""
    found: list[Finding] = []
    if parts.scheme == "http" and not _is_loopback(host):
        found.append(
            Finding(
                check="public_url",
                status="fail" if production else "warn",
                message=f"{variable} uses plain http for {host}: the session cookie and the "
                "callback's one-time token would cross the network in clear",
                fix=f"serve the site over https and set {variable}=https://{parts.netloc}"
                f"{parts.path}",
            )
        )
    prefix = parts.path
    callback = config.callback_path
    if prefix and (callback == prefix or callback.startswith(prefix + "/")):
        found.append(
            Finding(
                check="public_url",
                status="fail",
                message=f"{variable} ends in {prefix}, and the callback path {callback} starts "
                f"with it too: RedirectUrl would be {config.public_url}{callback}",
                fix=f"drop the path from {variable} (the routes already carry the prefix): "
                f"{parts.scheme}://{parts.netloc}",
            )
        )
    if not found:
        found.append(
            Finding(
                check="public_url",
                status="ok",
                message=f"RedirectUrl is {config.redirect_url}"
                + ("?state=..." if config.nonce_in_redirect else "")
                + ": Redtrust must have it registered",
            )
        )
    return found


def _check_connection(config: RedtrustConfig, name: Any, findings: list[Finding]) -> bool:
    """TCP, then TLS for https; appends the findings, True when the server can be used."""
    parts = urlsplit(config.server_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    variable = name("server_url")
    timeout = min(config.timeout, 5.0)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"the host {host} cannot be resolved",
                fix=f"check the host name in {variable}",
            )
        )
        return False
    except ConnectionRefusedError:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"nothing listens at {where} (connection refused)",
                fix=f"start Redtrust there, or fix the port in {variable} (the "
                f"{config.profile.name} profile's default is {config.profile.default_port})",
            )
        )
        return False
    except OSError as error:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"could not connect to {where}: {error.strerror or type(error).__name__}",
                fix=f"check {variable} and that this machine may reach {where} (firewall, proxy)",
            )
        )
        return False
    with sock:
        if parts.scheme == "https":
            return _check_tls(config, name, sock, host, port, findings)
    answer = _plain_http_answer(host, port, timeout)
    if answer.startswith(b"HTTP/"):
        findings.append(Finding(check="server", status="ok", message=f"{where} answers plain HTTP"))
        return True
    if answer[:1] == b"\x15":  # a TLS alert record
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"the server at {where} answered a TLS alert to plain HTTP",
                fix=f"use https:// in {variable}",
            )
        )
        return False
    findings.append(
        Finding(
            check="server",
            status="fail",
            message=f"the server at {where} did not answer HTTP",
            fix=f"check the port in {variable}",
        )
    )
    return False


def _check_tls(
    config: RedtrustConfig,
    name: Any,
    sock: socket.socket,
    host: str,
    port: int,
    findings: list[Finding],
) -> bool:
    where = f"{host}:{port}"
    context = ssl.create_default_context(cafile=config.ca_bundle)
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as error:
        findings.append(
            Finding(
                check="tls",
                status="fail",
                message=f"the certificate of {where} failed verification: "
                f"{error.verify_message or error.reason}",
                fix=f"for a private CA set {name('ca_bundle')} to its PEM file; for a name "
                f"mismatch use in {name('server_url')} the host name the certificate is for",
            )
        )
        return False
    except (ssl.SSLError, OSError) as error:
        if _plain_http_answer(host, port, min(config.timeout, 5.0)).startswith(b"HTTP/"):
            findings.append(
                Finding(
                    check="tls",
                    status="fail",
                    message=f"the server at {where} answered plain HTTP to a TLS handshake",
                    fix=f"use http:// in {name('server_url')} (loopback only) or fix the port",
                )
            )
        else:
            reason = getattr(error, "reason", None) or type(error).__name__
            findings.append(
                Finding(
                    check="tls",
                    status="fail",
                    message=f"the TLS handshake with {where} failed ({reason})",
                    fix=f"check the port in {name('server_url')} and the server's TLS settings",
                )
            )
        return False
    verified = "a verified certificate" if config.verify_tls else "NO certificate verification"
    findings.append(
        Finding(
            check="tls",
            status="ok" if config.verify_tls else "warn",
            message=f"{where}: {version} with {verified}",
            fix="" if config.verify_tls else f"turn {name('verify_tls')} back on",
        )
    )
    return True


def _plain_http_answer(host: str, port: int, timeout: float) -> bytes:
    """The first bytes a server sends back to a plain ``HEAD /`` (empty when it sends none)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
            return sock.recv(16)
    except OSError:
        return b""


def _check_signature(
    config: RedtrustConfig, name: Any, clock: Clock, transport: Any
) -> list[Finding]:
    calls = ClientCalls(config, None)
    request = calls.exchange(_PROBE_TOKEN).request
    found: list[Finding] = []
    with _http.make_client(config, transport) as client:
        try:
            raw = _http.send(
                client,
                operation=request.operation,
                method=request.method,
                url=request.url,
                headers=calls.headers(request, clock()),
                json_body=request.json_body,
                limit=config.max_response_bytes,
                time_limit=config.timeout,
            )
        except UpstreamError as error:
            return [
                Finding(
                    check="signature",
                    status="fail",
                    message=f"the signed request to {config.server_url} failed: {error}",
                    fix=f"check {name('server_url')}",
                )
            ]
        arrived = clock()
    found.append(_signature_finding(config, name, calls, raw, arrived))
    found.append(_clock_finding(raw.server_date, arrived, name))
    return found


def _signature_finding(
    config: RedtrustConfig, name: Any, calls: ClientCalls, raw: _http.RawResponse, now: float
) -> Finding:
    endpoint = config.profile.exchange
    try:
        calls.exchange(_PROBE_TOKEN).parse(raw, now)
    except APIError as error:
        return _refusal_finding(config, name, error)
    except ProtocolError as error:
        return Finding(
            check="signature",
            status="fail",
            message=f"{endpoint} answered HTTP {raw.status} but not as Redtrust does "
            f"({error.reason})",
            fix=f"check {name('server_url')} and {name('profile')} (or REDTRUST_ENDPOINT_EXCHANGE)",
        )
    except RedtrustError as error:
        return Finding(check="signature", status="fail", message=f"unexpected answer: {error}")
    return Finding(
        check="signature",
        status="fail",
        message="the server accepted a made-up temporary token: it is not a real Redtrust",
        fix=f"check {name('server_url')}",
    )


def _refusal_finding(config: RedtrustConfig, name: Any, error: APIError) -> Finding:
    partner, secret = name("partner"), name("shared_secret")
    code = error.code
    if code == "INVALID_SIGNATURE":
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the signature ({code}): the shared secret is not the "
            f"one Redtrust holds for partner {config.partner}",
            fix=f"set {secret} to the secret Redtrust gave for {config.partner}",
        )
    if code == "INVALID_PARTNER":
        return Finding(
            check="signature",
            status="fail",
            message=f"the server does not know partner {config.partner} ({code})",
            fix=f"set {partner} to the partner name Redtrust registered",
        )
    if code in ("STALE_TIMESTAMP", "INVALID_TIMESTAMP"):
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the signed timestamp ({code}): this machine's clock "
            "is off (see the clock check)",
            fix="synchronise the clock (NTP)",
        )
    if code in SIGNATURE_CODES:
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the HMAC headers ({code}): {error.message}",
            fix="check that no proxy drops the x-partner-name, x-request-timestamp and "
            "x-hmac-signature headers",
        )
    if error.status in (404, 405) or code in ("NOT_FOUND", "METHOD_NOT_ALLOWED"):
        return Finding(
            check="signature",
            status="fail",
            message=f"{config.profile.exchange} is not served there ({code}, HTTP {error.status})",
            fix=f"check {name('profile')} (certificate-enroll or ra-api) and {name('server_url')}",
        )
    if error.is_rejection:
        return Finding(
            check="signature",
            status="ok",
            message=f"partner {config.partner}'s signature accepted; the made-up token was "
            f"refused as expected ({code})",
        )
    return Finding(
        check="signature",
        status="fail",
        message=f"the server answered HTTP {error.status} ({code}: {error.message})",
        fix="try again later, or ask the Redtrust administrators",
    )


def _clock_finding(server_date: float | None, now: float, name: Any) -> Finding:
    if server_date is None:
        return Finding(
            check="clock",
            status="warn",
            message="the server sent no Date header: the clocks could not be compared",
        )
    skew = int(now) - int(server_date)  # the Date header has whole seconds
    way = "ahead of" if skew > 0 else "behind"
    text = f"this machine's clock is {abs(skew)} s {way} the server's"
    if abs(skew) <= CLOCK_WARN_SECONDS:
        return Finding(
            check="clock", status="ok", message=f"within {CLOCK_WARN_SECONDS} s of the server's"
        )
    if abs(skew) <= CLOCK_FAIL_SECONDS:
        return Finding(
            check="clock",
            status="warn",
            message=f"{text}: still accepted, but a drifting clock ends in refused signatures",
            fix="synchronise the clock (NTP: timedatectl set-ntp true)",
        )
    return Finding(
        check="clock",
        status="fail",
        message=f"{text}: Redtrust refuses signed timestamps outside its window (not "
        "published; the sandbox allows 300 s) and token lifetimes are judged on this clock",
        fix="synchronise the clock (NTP: timedatectl set-ntp true)",
    )


def _check_jwks(config: RedtrustConfig, name: Any) -> list[Finding]:
    if config.jwks is None:
        return []
    variable = name("jwks")
    keys = config.jwks.get("keys")
    if not isinstance(keys, list):  # pragma: no cover - the config refuses it
        keys = []
    families = {alg[:2] for alg in config.jwt_algorithms}
    kty_of = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
    wanted = {kty_of[f] for f in families if f in kty_of}
    usable = 0
    private = 0
    for key in keys:
        if not isinstance(key, Mapping):
            continue
        if "d" in key:
            private += 1
        alg = key.get("alg")
        if (
            key.get("kty") in wanted
            and key.get("use", "sig") == "sig"
            and (alg is None or alg in config.jwt_algorithms)
        ):
            usable += 1
    try:
        make_verifier(config)
    except TokenError as error:
        return [
            Finding(
                check="jwks",
                status="fail",
                message=f"the JWK set cannot be read: {error}",
                fix=f"point {variable} at Redtrust's published JWK set",
            )
        ]
    found: list[Finding] = []
    if private:
        found.append(
            Finding(
                check="jwks",
                status="warn",
                message=f"{private} key(s) of the set hold private parts ('d')",
                fix="keep only the public keys in the JWK set",
            )
        )
    if not usable:
        found.append(
            Finding(
                check="jwks",
                status="fail",
                message=f"none of the {len(keys)} key(s) can verify "
                f"{', '.join(config.jwt_algorithms)} signatures (kty, use or alg differ)",
                fix=f"use Redtrust's signing keys in {variable}, or set {name('jwt_algorithms')}",
            )
        )
    else:
        found.append(
            Finding(check="jwks", status="ok", message=f"{usable} of {len(keys)} key(s) usable")
        )
    return found


def check_redis(url: str, *, prefix: str = "") -> list[Finding]:
    """PING, the version, the eviction policy, and a probe key written, read and deleted
    with the store's own commands."""
    try:
        import redis

        from .stores.redis import RedisStore
    except ImportError:
        return [
            Finding(
                check="redis",
                status="fail",
                message="the redis package is not installed",
                fix='pip install "redtrust-middleware[redis]"',
            )
        ]
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else "the Redis URL"
    try:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    except ValueError:
        return [Finding(check="redis", status="fail", message="the Redis URL is not valid")]
    try:
        with client:
            client.ping()
            server = client.info("server")
            memory = client.info("memory")
            found = _redis_version(str(server.get("redis_version", "0")), where)
            found += _redis_policy(str(memory.get("maxmemory_policy", "")))
            store = RedisStore(client=client, prefix=prefix)
            key = f"redtrust:doctor:{secrets.token_hex(8)}"
            value = secrets.token_bytes(16)
            store.set(key, value, ttl=30)
            read = store.get(key)
            deleted = store.delete_if(key, value)  # a Lua script, as the lock release
            if read != value or not deleted or store.get(key) is not None:
                found.append(
                    Finding(
                        check="redis",
                        status="fail",
                        message="a probe key did not read back as written",
                        fix="check that no proxy or replica sits between the app and Redis",
                    )
                )
            else:
                found.append(
                    Finding(
                        check="redis",
                        status="ok",
                        message=f"{where}: a probe key written, read and deleted",
                    )
                )
            return found
    except redis.exceptions.AuthenticationError:
        cause, fix = "refused the password", "put the right password in the Redis URL"
    except redis.exceptions.ConnectionError as error:
        cause, fix = f"cannot be reached ({type(error).__name__})", "check the Redis URL's host"
    except redis.exceptions.ResponseError as error:
        cause = f"answered an error ({str(error).split(' ', 1)[0]})"
        fix = "allow the commands GET, SET, GETDEL, DEL and EVALSHA for this user"
    except (redis.exceptions.RedisError, StoreError, OSError) as error:
        cause, fix = f"failed ({type(error).__name__})", "check the Redis URL"
    return [Finding(check="redis", status="fail", message=f"Redis at {where} {cause}", fix=fix)]


def _redis_version(text: str, where: str) -> list[Finding]:
    try:
        version = tuple(int(part) for part in text.split(".")[:2])
    except ValueError:
        version = (0, 0)
    need = ".".join(map(str, REDIS_MIN_VERSION))
    if version < REDIS_MIN_VERSION:
        return [
            Finding(
                check="redis",
                status="fail",
                message=f"Redis at {where} is version {text}: the store needs {need} or "
                "later (GETDEL)",
                fix=f"upgrade Redis to {need} or later (or Valkey)",
            )
        ]
    return [Finding(check="redis", status="ok", message=f"Redis {text} (needs {need} or later)")]


def _redis_policy(policy: str) -> list[Finding]:
    if policy.startswith("allkeys-"):
        return [
            Finding(
                check="redis",
                status="warn",
                message=f"maxmemory-policy is {policy}: Redis may evict signed-in sessions "
                "and refresh locks under memory pressure",
                fix="set maxmemory-policy noeviction (or volatile-ttl on a shared Redis)",
            )
        ]
    return []
