"""The route table and its handlers: one entry per path, one handler per method.

A handler takes the sandbox's :class:`Services` and the request and returns a response, or
raises :class:`Reject`; :meth:`Sandbox.handle` does routing, counting, faults, the body size
cap and error rendering around it. To add an endpoint, write a handler and add one line to
:data:`ROUTES` (the RA API handlers live in :mod:`._ra`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx2

from ._asgi import PEER_EXTENSION, printable
from ._auth import Services, header_partner, live_bearer, optional_partner, signed_partner
from ._config import ExpirationFormat, SandboxConfig
from ._errors import (
    CONTROL_FORBIDDEN,
    INVALID_CONSUMER,
    INVALID_CREDENTIALS,
    INVALID_DOMAIN,
    INVALID_REDIRECT_URL,
    OK,
    Reject,
    bad_request,
    unauthorized,
)
from ._faults import FaultChange, plan_json
from ._http import (
    bearer_token,
    envelope,
    form_params,
    html_response,
    json_object,
    query_params,
    raw_json,
    required_text,
    text_field,
)
from ._pages import LOGIN_FORM_PATH, login_page
from ._ra import csr_create, csr_finalize
from ._state import SessionInfo

__all__ = ["CONSUMERS", "ENDPOINTS", "ROUTES", "Handler", "Route", "RouteKind", "Services"]

#: Accepted ``Consumer`` values on the login request.
CONSUMERS = frozenset({"RA_API", "SIGN_SERVICE"})
#: The fixed offset of the ``offset`` expiration format (Redtrust's home, Spain, in winter).
EXPIRATION_OFFSET = timezone(timedelta(hours=1))
_URL_CHARS = re.compile(r"[\x21-\x7e]+")
# host[:port] worth suggesting as a prefix: a name, IPv4 or bracketed IPv6, no user info.
_PLAIN_NETLOC = re.compile(r"([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")

logger = logging.getLogger("redtrust_middleware.sandbox")
_NOT_REGISTERED = "is not under a registered prefix"


Handler = Callable[[Services, httpx2.Request], httpx2.Response]
#: ``browser`` routes answer errors with HTML pages, ``api`` routes with JSON envelopes;
#: ``control`` routes (``/_sandbox/...``) are neither counted nor subject to faults.
RouteKind = Literal["browser", "api", "control"]


@dataclass(frozen=True, slots=True)
class Route:
    """One path: its endpoint name (for counters and faults), its kind and its handlers."""

    name: str
    kind: RouteKind
    methods: Mapping[str, Handler]


# -- shared checks ---------------------------------------------------------------------------


def _checked_domain(config: SandboxConfig, domain: str | None, what: str) -> str | None:
    if domain is None:
        return None
    if not domain:
        raise bad_request(f"{what} must not be empty when given")
    if config.domains is not None and domain not in config.domains:
        raise Reject(400, INVALID_DOMAIN, f"{what} is not an accepted domain")
    return domain


def _checked_redirect(config: SandboxConfig, url: str | None) -> str:
    """A ``RedirectUrl`` under a registered prefix, without tricks that escape the prefix."""
    if not url:
        raise bad_request("parameter 'RedirectUrl' is required")
    if not _URL_CHARS.fullmatch(url) or "\\" in url or "#" in url:
        raise _redirect_refused(
            config, url, "must be printable ASCII without spaces, backslashes or a fragment"
        )
    if not any(url.startswith(prefix) for prefix in config.redirect_prefixes):
        raise _redirect_refused(config, url, _NOT_REGISTERED)
    path = unquote(urlsplit(url).path)
    if any(part in (".", "..") for part in path.split("/")):
        raise _redirect_refused(config, url, "must not have '.' or '..' path segments")
    return url


def _suggested_prefix(url: str) -> str | None:
    """``scheme://host[:port]/`` of a received URL, when it is a plain http(s) origin."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _PLAIN_NETLOC.fullmatch(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}/"


def _redirect_refused(config: SandboxConfig, url: str, problem: str) -> Reject:
    """The refusal of a ``RedirectUrl`` with what a developer needs to fix it: the URL as
    received (controls and non-ASCII escaped, truncated; the page HTML-escapes it too), the
    registered prefixes and, for an unregistered origin, the option that adds it. Logged as
    well: the page shows in a browser, the log in the developer's terminal."""
    received = printable(url)
    prefixes = ", ".join(config.redirect_prefixes)
    notes = [f"Received RedirectUrl: {received}", f"Registered prefixes: {prefixes}"]
    suggestion = _suggested_prefix(url) if problem == _NOT_REGISTERED else None
    if suggestion is not None:
        kept = " ".join(f"--redirect-prefix {prefix}" for prefix in config.redirect_prefixes)
        notes.append(
            "To accept it, start the sandbox with its origin as one more --redirect-prefix "
            f"(the option is repeatable and replaces the defaults): redtrust sandbox {kept} "
            f"--redirect-prefix {suggestion} (from Python: SandboxConfig.redirect_prefixes)"
        )
    logger.warning(
        "refused RedirectUrl %s (%s); registered prefixes: %s; add one with --redirect-prefix %s",
        received,
        problem,
        prefixes,
        suggestion or "URL",
    )
    return Reject(400, INVALID_REDIRECT_URL, f"parameter 'RedirectUrl' {problem}", notes=notes)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_token(redirect_url: str, token: str) -> str:
    """Append ``tkn``: right after a trailing ``tkn=``, else as a new query parameter."""
    if redirect_url.endswith("tkn="):
        return redirect_url + token
    parts = urlsplit(redirect_url)
    query = f"{parts.query}&tkn={token}" if parts.query else f"tkn={token}"
    return urlunsplit(parts._replace(query=query))


def format_expiration(expires_at: int, style: ExpirationFormat) -> str:
    """Render a UNIX time as the ``expiration`` string in the configured style."""
    moment = datetime.fromtimestamp(expires_at, tz=UTC)
    if style == "utc-z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "naive-utc":
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return moment.astimezone(EXPIRATION_OFFSET).isoformat(timespec="seconds")


def _token_data(sv: Services, session: SessionInfo, *, refreshed: bool = False) -> dict[str, str]:
    """``{"accessToken", "refreshToken", "expiration"}`` with a fresh access token."""
    now = int(sv.clock())
    ttl = sv.config.access_token_ttl
    if refreshed and sv.config.refreshed_access_token_ttl is not None:
        ttl = sv.config.refreshed_access_token_ttl
    access_token = sv.signer.sign(
        subject=session.username,
        audience=session.partner,
        session_id=session.session_id,
        domain=session.domain,
        now=now,
        ttl=ttl,
    )
    return {
        "accessToken": access_token,
        "refreshToken": session.refresh_token,
        "expiration": format_expiration(now + ttl, sv.config.expiration_format),
    }


def _granted(
    sv: Services, session: SessionInfo, message: str, *, refreshed: bool = False
) -> httpx2.Response:
    return envelope(200, OK, message, _token_data(sv, session, refreshed=refreshed))


# -- browser login ---------------------------------------------------------------------------


def loginrequest(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``GET /authclient/auth/loginrequest``: check the signed link, show the sign-in form."""
    params = query_params(request)
    timestamp = params.get("timestamp")
    partner = signed_partner(sv, params.get("partner"), timestamp, params.get("hmac"))
    consumer = params.get("Consumer")
    if not consumer:
        raise bad_request("parameter 'Consumer' is required")
    if consumer not in CONSUMERS:
        raise Reject(400, INVALID_CONSUMER, "parameter 'Consumer' must be RA_API or SIGN_SERVICE")
    redirect_url = _checked_redirect(sv.config, params.get("RedirectUrl"))
    # Domain is optional (the docs); an empty one, as a link template leaves it, is absent.
    domain = _checked_domain(sv.config, params.get("Domain") or None, "parameter 'Domain'")
    attempt = sv.state.open_attempt(
        partner=partner,
        consumer=consumer,
        domain=domain,
        redirect_url=redirect_url,
        link=f"{partner}:{timestamp}",  # what the HMAC signs: a replay has the same one
    )
    return html_response(200, login_page(attempt), form_origin=_origin(redirect_url))


def login_form(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /authclient/auth/login``: check the credentials, redirect back with ``tkn``."""
    form = form_params(request)
    attempt_id, username, password = form.get("attempt"), form.get("username"), form.get("password")
    if not attempt_id:
        raise bad_request("field 'attempt' is required")
    if username is None or password is None:
        raise bad_request("fields 'username' and 'password' are required")
    attempt = sv.state.peek_attempt(attempt_id)
    if not sv.state.check_password(username, password):
        page = login_page(attempt, error="Invalid username or password", username=username)
        return html_response(401, page, form_origin=_origin(attempt.redirect_url))
    attempt, token = sv.state.complete_attempt(attempt_id, username)
    return httpx2.Response(
        302,
        headers={
            "Location": _with_token(attempt.redirect_url, token),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


# -- token API -------------------------------------------------------------------------------


def exchange(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``GET``/``POST /authapi/v1/login_by_temp_token``: temporary token to token data
    (signed, as the tutorial says)."""
    partner = header_partner(sv, request)
    token = required_text(json_object(request), "temporalToken")
    return _granted(sv, sv.state.exchange(partner, token), "temporal token exchanged")


def _refresh(sv: Services, request: httpx2.Request, *, with_bearer: bool) -> httpx2.Response:
    # The tutorial's refresh is signed; the RA API's needs no authentication.
    partner = header_partner(sv, request) if with_bearer else optional_partner(sv, request)
    refresh_token = required_text(json_object(request), "refreshToken")
    session_id: str | None = None
    if with_bearer:  # its signature and partner must be right; its expiry does not matter
        session_id = sv.signer.read(bearer_token(request), audience=partner)["sid"]
    session = sv.state.refresh(partner, refresh_token, bearer_session=session_id)
    return _granted(sv, session, "token refreshed", refreshed=True)


def refresh_with_bearer(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``PUT /authapi/v1/refresh-token`` (tutorial): signed, with a bearer of the same
    session (expired or not)."""
    return _refresh(sv, request, with_bearer=True)


def refresh_without_bearer(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``PUT /raapi/v1/auth/refresh-token`` (RA API): no bearer, HMAC headers optional."""
    return _refresh(sv, request, with_bearer=False)


def direct_login(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /raapi/v1/auth/login``: user name and password to token data (HMAC headers
    optional: without them the session belongs to no partner)."""
    partner = optional_partner(sv, request)
    body = json_object(request)
    username = required_text(body, "username")
    password = required_text(body, "password")
    # The domain is optional ("the domain name where one applies"): empty means none given,
    # as an empty ``Domain=`` does on the login page.
    given = None if body.get("domain") == "" else text_field(body, "domain", required=False)
    domain = _checked_domain(sv.config, given, "'domain'")
    if not sv.state.check_password(username, password):
        raise unauthorized(INVALID_CREDENTIALS, "invalid username or password")
    return _granted(sv, sv.state.open_session(partner, username, domain), "logged in")


def logout(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``DELETE /raapi/v1/auth/logout``: end the bearer's session (idempotent)."""
    claims = live_bearer(sv, request)
    sv.state.end_session(claims["sid"])
    return envelope(200, OK, "logged out", {})


# -- sandbox control -------------------------------------------------------------------------


def stats(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``GET /_sandbox/stats``: the call counters as ``data.calls``."""
    return envelope(200, OK, "sandbox counters", {"calls": sv.state.count_snapshot()})


def reset(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /_sandbox/reset``: zero the counters."""
    sv.state.reset_counters()
    return envelope(200, OK, "sandbox counters reset", {})


def jwks(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``GET /_sandbox/jwks.json``: the public JWK set, as a bare JWKS document."""
    return raw_json(sv.signer.jwks())


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _fault_control_caller(request: httpx2.Request) -> None:
    """Fault control is for scripts and tests on this machine: a caller on another host, or
    a browser (it sends ``Origin`` on every POST, also from a page on another site), is
    refused. In-process and Unix-socket callers carry no peer address."""
    peer = request.extensions.get(PEER_EXTENSION)
    if isinstance(peer, str) and not _is_loopback(peer):
        raise Reject(403, CONTROL_FORBIDDEN, "fault control answers loopback clients only")
    if "origin" in request.headers:
        raise Reject(403, CONTROL_FORBIDDEN, "fault control refuses browser requests (Origin)")


def _fault_plan(sv: Services, message: str) -> httpx2.Response:
    return envelope(200, OK, message, plan_json(*sv.state.fault_plan()))


def faults(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``GET /_sandbox/faults``: the latency and the planned faults."""
    _fault_control_caller(request)
    return _fault_plan(sv, "sandbox faults")


def change_faults(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /_sandbox/faults``: change the latency and the planned faults (JSON body, see
    :meth:`FaultChange.from_json`); the answer is the plan as it now stands."""
    _fault_control_caller(request)
    try:
        change = FaultChange.from_json(json_object(request), ENDPOINTS)
    except ValueError as error:
        raise bad_request(str(error)) from None
    sv.state.change_faults(change)
    return _fault_plan(sv, "sandbox faults changed")


#: Path -> route. Both profiles are served at once.
ROUTES: dict[str, Route] = {
    "/authclient/auth/loginrequest": Route("loginrequest", "browser", {"GET": loginrequest}),
    LOGIN_FORM_PATH: Route("login_form", "browser", {"POST": login_form}),
    "/authapi/v1/login_by_temp_token": Route(
        "exchange", "api", {"GET": exchange, "POST": exchange}
    ),
    "/authapi/v1/refresh-token": Route("refresh", "api", {"PUT": refresh_with_bearer}),
    "/raapi/v1/auth/refresh-token": Route("refresh", "api", {"PUT": refresh_without_bearer}),
    "/raapi/v1/auth/login": Route("login", "api", {"POST": direct_login}),
    "/raapi/v1/auth/logout": Route("logout", "api", {"DELETE": logout}),
    "/raapi/v1/csr/create": Route("csr_create", "api", {"POST": csr_create}),
    "/raapi/v1/csr/finalize": Route("csr_finalize", "api", {"PUT": csr_finalize}),
    "/_sandbox/stats": Route("stats", "control", {"GET": stats}),
    "/_sandbox/reset": Route("reset", "control", {"POST": reset}),
    "/_sandbox/jwks.json": Route("jwks", "control", {"GET": jwks}),
    "/_sandbox/faults": Route("faults", "control", {"GET": faults, "POST": change_faults}),
}

#: Endpoint names used by the counters and the faults (both refresh shapes are ``refresh``,
#: both exchange shapes ``exchange``); control routes have none.
ENDPOINTS = frozenset(route.name for route in ROUTES.values() if route.kind != "control")
