"""The web gate without I/O: a neutral request in, a response or "proceed" out.

Every web face (the generic ASGI and WSGI middleware, Starlette, Django) turns its request
into a :class:`WebRequest`, runs :meth:`Gate.handle` with its session manager, and either
sends the :class:`WebResponse` (the library's own routes: login, callback, logout) or lets the
app run with the :class:`Proceed` outcome (the signed-in context, cookies to set). So the
login redirect, the callback and the protection rules exist once.

Like :mod:`.session`, :meth:`Gate.handle` is a generator: it yields calls on the session
manager (:class:`BeginLogin`, :class:`CompleteLogin`, :class:`LoadSession`,
:class:`EndSession`) and the driver performs them, sync or async.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .client import AsyncClient, AsyncUserClient, Client, UserClient
from .config import RedtrustConfig
from .exceptions import (
    CallbackError,
    ConfigurationError,
    RedtrustError,
    RefreshFailedError,
    StoreError,
    TokenError,
    TransportError,
    UpstreamError,
)
from .login import is_handle, nonce_cookie_value, parse_nonce_cookie, validate_next
from .session import ActiveSession, AsyncSessionManager, LoginDone, LoginStart, SessionManager
from .tokens import TokenSet

__all__ = [
    "SIGNOUT_FIELD",
    "BeginLogin",
    "Browser",
    "CompleteLogin",
    "EndSession",
    "Gate",
    "LoadSession",
    "Proceed",
    "RedtrustContext",
    "RouteAnswer",
    "WebRequest",
    "WebResponse",
    "arun_gate",
    "parse_cookies",
    "run_gate",
    "signout_token",
]

logger = logging.getLogger(__name__)

MAX_COOKIE_HEADER = 8192
#: The sign-out form's hidden field, carrying :attr:`RedtrustContext.signout_token`.
SIGNOUT_FIELD = "redtrust_signout"
#: The most of a sign-out POST's body that is read (the form holds one short field).
MAX_FORM_BYTES = 4096


def signout_token(handle: str) -> str:
    """The token a sign-out form carries for the session ``handle``.

    A one-way digest of the handle: only the browser holding the session (its HttpOnly
    cookie) and the server can make it, it reveals nothing of the handle, and it needs no
    key shared between processes. It proves a sign-out came from this site's own form when
    the browser sends no ``Origin`` (a page with ``Referrer-Policy: no-referrer`` makes
    browsers send ``Origin: null``).
    """
    digest = hashlib.sha256(b"redtrust-signout\x00" + handle.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True, kw_only=True)
class WebRequest:
    """What the gate needs from an HTTP request, in any framework.

    ``headers`` has lower-case names (several values joined by ``, ``; cookies by ``; ``).
    ``path`` is the routed path (already percent-decoded by the server), ``query`` raw bytes.
    ``body`` is read only where :meth:`Gate.wants_body` says so (the sign-out POST).
    """

    method: str
    path: str
    query: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    scheme: str = "http"
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebResponse:
    """A complete answer from one of the library's routes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RedtrustContext:
    """The signed-in user of this request, published to the app.

    ``access_token`` is fresh (refreshed before expiry); it never appears in ``repr``.
    """

    tokens: TokenSet
    created_at: float
    #: True when the token was refreshed while serving this request.
    refreshed: bool = False
    #: The app's Redtrust client bound to this user's fresh token (:class:`AsyncUserClient`
    #: in async apps, :class:`UserClient` in sync ones), for calls as this user.
    client: AsyncUserClient | UserClient | None = field(default=None, repr=False, compare=False)
    #: What this user's sign-out form sends as :data:`SIGNOUT_FIELD` (see
    #: :attr:`signout_input`), so the sign-out works whatever the page's referrer policy.
    signout_token: str = field(default="", repr=False)

    @property
    def signout_input(self) -> str:
        """The hidden field for a sign-out form (``<form method=post action=logout_path>``)."""
        return (
            f'<input type="hidden" name="{SIGNOUT_FIELD}" '
            f'value="{html.escape(self.signout_token)}">'
        )

    @property
    def access_token(self) -> str:
        """The bearer token for calls to Redtrust on this user's behalf."""
        return self.tokens.access_token

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value for those calls."""
        return f"Bearer {self.tokens.access_token}"

    @property
    def expires_at(self) -> Any:
        """When the access token expires (aware UTC ``datetime``)."""
        return self.tokens.expires_at

    @property
    def claims(self) -> Mapping[str, Any]:
        """The access token's claims (verified when a JWK set is configured)."""
        return self.tokens.claims

    @property
    def subject(self) -> str | None:
        """The user's name (the ``sub`` claim), when the token carries one."""
        return self.tokens.subject


@dataclass(frozen=True, slots=True, kw_only=True)
class Proceed:
    """Let the app run: with the signed-in context (or None), plus cookies to set."""

    context: RedtrustContext | None
    set_cookies: tuple[str, ...] = ()
    #: The session cookie was read: caches must vary on it.
    vary_cookie: bool = False
    #: Why there is no context although a session cookie came (Redtrust or the store is
    #: unavailable): protected endpoints answer with this error's status, public ones run.
    problem: RedtrustError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Browser:
    """What a browser carries between requests: its session handle and pending-login nonces.

    The generic middleware keeps them in cookies; framework faces with their own session
    (Django) keep them there instead. Never shown in ``repr``.
    """

    handle: str | None = field(default=None, repr=False)
    nonces: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteAnswer:
    """The answer of one of the library's routes, and what the browser must now keep."""

    response: WebResponse
    #: The pending-login nonces to keep from now on (None: unchanged).
    nonces: tuple[str, ...] | None = field(default=None, repr=False)
    #: A new session handle: the user signed in (the face starts a fresh session for it).
    handle: str | None = field(default=None, repr=False)
    #: The session ended: the face forgets the handle.
    signed_out: bool = False


# -- calls the gate asks the driver to make on its session manager --------------------------


@dataclass(frozen=True, slots=True)
class BeginLogin:
    next_url: str | None
    callback_url: str
    browser_nonces: tuple[str, ...] = field(repr=False)

    def apply(self, manager: Any) -> Any:
        return manager.begin_login(
            next_url=self.next_url,
            callback_url=self.callback_url,
            browser_nonces=self.browser_nonces,
        )


@dataclass(frozen=True, slots=True)
class CompleteLogin:
    query: bytes = field(repr=False)
    browser_nonces: tuple[str, ...] = field(repr=False)
    previous_handle: str | None = field(repr=False)

    def apply(self, manager: Any) -> Any:
        return manager.complete_login(
            query=self.query,
            browser_nonces=self.browser_nonces,
            previous_handle=self.previous_handle,
        )


@dataclass(frozen=True, slots=True)
class LoadSession:
    handle: str = field(repr=False)

    def apply(self, manager: Any) -> Any:
        return manager.get(self.handle)


@dataclass(frozen=True, slots=True)
class EndSession:
    handle: str = field(repr=False)

    def apply(self, manager: Any) -> Any:
        return manager.logout(self.handle)


ManagerCall: TypeAlias = BeginLogin | CompleteLogin | LoadSession | EndSession
GateFlow: TypeAlias = Generator[ManagerCall, Any, "WebResponse | Proceed"]
RouteFlow: TypeAlias = Generator[ManagerCall, Any, RouteAnswer]


def parse_cookies(header: str | None) -> dict[str, str]:
    """Cookies from a ``Cookie`` header, tolerating junk (unlike ``http.cookies``, which drops
    every cookie when one is malformed). The first of duplicate names wins, as in browsers'
    most-specific-path-first order."""
    cookies: dict[str, str] = {}
    if not header or len(header) > MAX_COOKIE_HEADER:
        return cookies
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip().strip('"')
        if sep and name and name not in cookies:
            cookies[name] = value
    return cookies


_PAGE_HEADERS = (
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
)


def _page(
    status: int, title: str, message: str, link: tuple[str, str] | None = None, form: str = ""
) -> WebResponse:
    action = ""
    if link is not None:
        action = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;"
        "padding:0 1em;color:#222}h1{font-size:1.4em}</style>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{action}{form}</html>"
    )
    return WebResponse(status=status, headers=_PAGE_HEADERS, body=body.encode())


def _form_field(request: WebRequest, name: str) -> str | None:
    """The one value of ``name`` in an urlencoded form body; None if absent, repeated or
    the body is not such a form (or too large)."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or len(request.body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(request.body.decode("ascii"), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get(name, [])
    return values[0] if len(values) == 1 else None


def _not_allowed(allow: str, message: str) -> WebResponse:
    page = _page(405, "Method not allowed", message)
    return WebResponse(status=405, headers=(*page.headers, ("allow", allow)), body=page.body)


def _json(
    status: int, payload: Mapping[str, Any], extra: Sequence[tuple[str, str]] = ()
) -> WebResponse:
    headers = (("content-type", "application/json"), ("cache-control", "no-store"), *extra)
    return WebResponse(status=status, headers=headers, body=json.dumps(payload).encode())


class Gate:
    """The library's routes and the per-request session step, for one app.

    Args:
        config: the Redtrust configuration. Its ``public_url`` is required: it fixes the
            callback URL (never taken from a ``Host`` header) and the cookies' ``Secure`` flag.
        api_prefixes: paths whose callers get 401 JSON instead of a login redirect.
        client: the Redtrust client handed to each request's context.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        api_prefixes: Sequence[str] = ("/api/",),
        client: AsyncClient | Client | None = None,
    ) -> None:
        if config.public_url is None or config.redirect_url is None:
            raise ConfigurationError(
                "public_url", "is required by the web middleware (RedirectUrl is built from it)"
            )
        self.config = config
        self.client = client
        self.api_prefixes = tuple(api_prefixes)
        self.callback_url = config.redirect_url
        parts = urlsplit(config.public_url)
        self.origin = (parts.scheme, parts.netloc)
        self.secure = parts.scheme == "https"
        # __Host- binds the cookie to this exact host over https, path /, no Domain.
        prefix = "__Host-" if self.secure else ""
        self.session_cookie = f"{prefix}redtrust_session"
        self.login_cookie = f"{prefix}redtrust_login"
        self.routes = {config.login_path, config.callback_path, config.logout_path}
        self._session_cookie_value = re.compile(
            r"(?:^|;)\s*" + re.escape(self.session_cookie) + r"=([^;]*)"
        )
        self._proceeds: dict[int, tuple[ActiveSession, Proceed]] = {}
        #: What the app gets without a session cookie, and with one that is no longer valid.
        self.no_session = _NO_SESSION
        self.signed_out = Proceed(
            context=None, set_cookies=(self._clear(self.session_cookie),), vary_cookie=True
        )

    # -- cookies ----------------------------------------------------------------------------

    def _cookie(self, name: str, value: str, max_age: float) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={int(max_age)}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def _clear(self, name: str) -> str:
        return self._cookie(name, "", 0)

    def _nonce_cookie(self, nonces: Sequence[str]) -> str:
        if not nonces:
            return self._clear(self.login_cookie)
        return self._cookie(
            self.login_cookie, nonce_cookie_value(nonces), self.config.pending_login_ttl
        )

    # -- decisions --------------------------------------------------------------------------

    def wants_json(self, request: WebRequest) -> bool:
        """True for API and fetch/XHR callers (401 JSON), False for page navigations."""
        headers = request.headers
        if any(request.path.startswith(p) for p in self.api_prefixes):
            return True
        if "authorization" in headers or headers.get("x-requested-with") == "XMLHttpRequest":
            return True
        mode = headers.get("sec-fetch-mode")
        if mode is not None:
            return mode != "navigate"
        accept = headers.get("accept", "")
        return "application/json" in accept and "text/html" not in accept

    def login_url(self, next_url: str | None) -> str:
        """The library's login route, carrying ``next`` (validated again when used)."""
        if not next_url:
            return self.config.login_path
        return f"{self.config.login_path}?next={quote(next_url, safe='')}"

    def _same_origin(self, sent: str) -> bool:
        """True when the URL or origin ``sent`` (an ``Origin`` or ``Referer``) is this app's."""
        parts = urlsplit(sent)
        try:
            port = parts.port
        except ValueError:
            return False
        default = {"https": 443, "http": 80}.get(parts.scheme)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"  # IPv6, spelled as in the configured public_url
        if port is not None and port != default:
            netloc = f"{netloc}:{port}"
        return (parts.scheme, netloc) == self.origin

    def unauthenticated(self, request: WebRequest, next_url: str | None) -> WebResponse:
        """What a protected endpoint answers without a session: 302 or 401 JSON."""
        login = self.login_url(next_url)
        if self.wants_json(request):
            return _json(
                401,
                {"error": "not_authenticated", "login_url": login},
                [("www-authenticate", 'Bearer realm="redtrust"')],
            )
        return WebResponse(status=302, headers=(("location", login), ("cache-control", "no-store")))

    def unavailable(self, request: WebRequest, error: RedtrustError) -> WebResponse:
        """A clear 502/503 (JSON for API callers), never a traceback or a token.

        A store failure (``store_unavailable``) is told apart from Redtrust failing
        (``redtrust_unavailable``): the operator looks in a different place.
        """
        status = error.http_status if error.http_status in (502, 503) else 503
        retry = str(getattr(error, "retry_after", 5))
        extra = (("retry-after", retry),) if status == 503 else ()
        store = isinstance(error, StoreError)
        if self.wants_json(request):
            code = "store_unavailable" if store else "redtrust_unavailable"
            return _json(status, {"error": code}, extra)
        if store:
            title = "Sessions are unavailable"
            message = "This site could not reach its session store just now; your session is kept."
        else:
            title = "Sign-in service unavailable"
            message = "Redtrust could not be reached just now; your session is kept."
        page = _page(status, title, f"{message} Please try again in a moment.")
        return WebResponse(status=status, headers=page.headers + extra, body=page.body)

    # -- the gate ---------------------------------------------------------------------------

    def handle(self, request: WebRequest) -> GateFlow:
        """Answer the library's routes, or load the session for the app's own (cookie face)."""
        if request.path in self.routes:
            answer = yield from self.route(request, self.browser_from_cookies(request))
            return self.with_cookies(answer)
        return (yield from self._load(request))

    def route(self, request: WebRequest, browser: Browser) -> RouteFlow:
        """One of the library's routes, chosen by path (login, callback or logout)."""
        path = request.path
        if path == self.config.login_path:
            return (yield from self.login(request, browser))
        if path == self.config.callback_path:
            return (yield from self.callback(request, browser))
        return (yield from self.logout(request, browser))

    def _cookies(self, request: WebRequest) -> dict[str, str]:
        return parse_cookies(request.headers.get("cookie"))

    def browser_from_cookies(self, request: WebRequest) -> Browser:
        """The browser state the cookie face keeps: the session and pending-login cookies."""
        cookies = self._cookies(request)
        nonces = parse_nonce_cookie(cookies.get(self.login_cookie), self.config.max_pending_logins)
        return Browser(handle=cookies.get(self.session_cookie) or None, nonces=tuple(nonces))

    def with_cookies(self, answer: RouteAnswer) -> WebResponse:
        """A route's response with the cookies that keep its new browser state."""
        cookies: list[tuple[str, str]] = []
        if answer.handle is not None:
            value = self._cookie(self.session_cookie, answer.handle, self.config.absolute_timeout)
            cookies.append(("set-cookie", value))
        elif answer.signed_out:
            cookies.append(("set-cookie", self._clear(self.session_cookie)))
        if answer.nonces is not None:
            cookies.append(("set-cookie", self._nonce_cookie(answer.nonces)))
        response = answer.response
        if not cookies:
            return response
        return WebResponse(
            status=response.status, headers=(*response.headers, *cookies), body=response.body
        )

    def _query_next(self, request: WebRequest) -> str | None:
        for part in request.query.decode("latin-1").split("&"):
            name, _, value = part.partition("=")
            if name == "next":
                return unquote(value)
        return None

    def login(self, request: WebRequest, browser: Browser) -> RouteFlow:
        """Start a sign-in: a pending login, and a redirect to Redtrust's signed login page."""
        if request.method != "GET":  # not even HEAD: starting a login writes a record
            return RouteAnswer(response=_not_allowed("GET", "Use a link to sign in."))
        try:
            start: LoginStart = yield BeginLogin(
                self._query_next(request), self.callback_url, browser.nonces
            )
        except StoreError as error:
            return RouteAnswer(response=self.unavailable(request, error))
        response = WebResponse(
            status=302,
            headers=(
                ("location", start.url),
                ("cache-control", "no-store"),
                ("referrer-policy", "no-referrer"),
            ),
        )
        return RouteAnswer(response=response, nonces=start.browser_nonces)

    def callback(self, request: WebRequest, browser: Browser) -> RouteFlow:
        """Complete a sign-in from Redtrust's redirect: a new session, then off to ``next``."""
        if request.method != "GET":
            return RouteAnswer(response=_not_allowed("GET", "Sign-in callbacks are links."))
        try:
            done: LoginDone = yield CompleteLogin(request.query, browser.nonces, browser.handle)
        except CallbackError as error:
            return RouteAnswer(response=self._callback_failed(request, error))
        except (UpstreamError, StoreError, TokenError) as error:
            return RouteAnswer(response=self._callback_unavailable(request, error))
        response = WebResponse(
            status=303,
            headers=(
                ("location", done.next_url),
                ("cache-control", "no-store"),
                ("referrer-policy", "no-referrer"),  # the URL carried tkn: never pass it on
            ),
        )
        return RouteAnswer(response=response, handle=done.handle, nonces=done.browser_nonces)

    def _callback_unavailable(self, request: WebRequest, error: RedtrustError) -> WebResponse:
        """Redtrust or the store failed mid-sign-in: the pending login is used, start again."""
        status = 503 if isinstance(error, StoreError | TransportError) else 502
        store = isinstance(error, StoreError)
        logger.warning("redtrust: sign-in not completed (%s)", type(error).__name__)
        if self.wants_json(request):
            return _json(
                status,
                {
                    "error": "sign_in_not_completed",
                    "cause": "store_unavailable" if store else "redtrust_unavailable",
                    "login_url": self.login_url(None),
                },
            )
        who = "This site could not save" if store else "Redtrust could not complete"
        return _page(
            status,
            "Sign-in not completed",
            f"{who} the sign-in just now. Please sign in again.",
            (self.login_url(None), "Sign in again"),
        )

    def _callback_failed(self, request: WebRequest, error: CallbackError) -> WebResponse:
        logger.info("redtrust: callback refused (%s)", error.code)
        if self.wants_json(request):
            return _json(
                400,
                {"error": error.code.lower(), "login_url": self.login_url(None)},
                [("referrer-policy", "no-referrer")],
            )
        return _page(
            400,
            "Sign-in could not be completed",
            f"{error.reason[:1].upper()}{error.reason[1:]}. Please sign in again.",
            (self.login_url(None), "Sign in again"),
        )

    def wants_body(self, request: WebRequest) -> bool:
        """True when the face must read the body into :attr:`WebRequest.body` (at most
        :data:`MAX_FORM_BYTES`): the sign-out POST, whose form carries the sign-out token."""
        return request.method == "POST" and request.path == self.config.logout_path

    def _signout_proven(self, request: WebRequest, browser: Browser) -> bool:
        """A sign-out POST came from this site: refused from another site whatever it carries;
        otherwise proven by the session's token, a same-origin ``Origin`` or ``Referer``, or
        ``Sec-Fetch-Site: same-origin``. With none of them (a bare POST) it is refused."""
        headers = request.headers
        origin = headers.get("origin")
        if origin and origin != "null" and not self._same_origin(origin):
            return False
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return False
        handle = browser.handle
        sent = _form_field(request, SIGNOUT_FIELD)
        if (
            sent
            and handle
            and is_handle(handle)
            and hmac.compare_digest(sent.encode(), signout_token(handle).encode())
        ):
            return True
        if origin and origin != "null":
            return True  # same origin, checked above
        if headers.get("sec-fetch-site") == "same-origin":
            return True
        referer = headers.get("referer")
        return bool(referer) and self._same_origin(referer or "")

    def logout(self, request: WebRequest, browser: Browser) -> RouteFlow:
        """Sign out: a confirmation form on GET; on a POST proven to come from this site
        (see :meth:`_signout_proven`), end the session."""
        handle = browser.handle
        if request.method in ("GET", "HEAD"):
            token = ""
            if handle and is_handle(handle):
                token = f'<input type=hidden name={SIGNOUT_FIELD} value="{signout_token(handle)}">'
            form = (
                f'<form method=post action="{html.escape(self.config.logout_path)}">'
                f"{token}<button type=submit>Sign out</button></form>"
            )
            return RouteAnswer(
                response=_page(200, "Sign out?", "Confirm to end your session.", form=form)
            )
        if request.method != "POST":
            return RouteAnswer(response=_not_allowed("GET, HEAD, POST", "Sign out with the form."))
        if not self._signout_proven(request, browser):
            logger.info("redtrust: sign-out refused (no proof it came from this site)")
            return RouteAnswer(
                response=_page(
                    403,
                    "Sign-out refused",
                    "This request did not come from this site's sign-out form, so your "
                    "session is kept. To sign out, use the button on the sign-out page.",
                    (self.config.logout_path, "Go to the sign-out page"),
                )
            )
        if handle and is_handle(handle):
            try:
                yield EndSession(handle)
            except StoreError as error:
                return RouteAnswer(response=self.unavailable(request, error))
        target = validate_next(self._query_next(request), self.config)
        response = WebResponse(
            status=303, headers=(("location", target), ("cache-control", "no-store"))
        )
        return RouteAnswer(response=response, signed_out=True)

    def session_handle(self, cookie_header: str | None) -> str | None:
        """The session handle from a ``Cookie`` header: None when there is no session cookie,
        ``""`` when there is one but it is malformed (it is then cleared)."""
        if not cookie_header or self.session_cookie not in cookie_header:
            return None  # the common case costs no parsing and no store access
        if len(cookie_header) > MAX_COOKIE_HEADER:
            return None
        found = self._session_cookie_value.findall(cookie_header)
        if len(found) != 1:
            # None, or several (one tossed in by a sibling site): trust none, clear nothing.
            return None
        handle = found[0]
        if not is_handle(handle):
            handle = handle.strip().strip('"')
        return handle if is_handle(handle) else ""

    def after_load(self, session: ActiveSession | Exception | None) -> Proceed:
        """What the app gets once the session was loaded (or failed to load)."""
        if isinstance(session, ActiveSession):
            # Sessions unchanged since the last request are the same object: reuse its answer.
            cached = self._proceeds.get(id(session))
            if cached is not None and cached[0] is session:
                return cached[1]
            proceed = Proceed(context=self._context(session), vary_cookie=True)
            if len(self._proceeds) >= 10_000:
                self._proceeds.clear()
            self._proceeds[id(session)] = (session, proceed)
            return proceed
        if session is None:
            return self.signed_out
        logger.warning("redtrust: session unavailable (%s)", type(session).__name__)
        return Proceed(
            context=None,
            vary_cookie=True,
            problem=session if isinstance(session, RedtrustError) else None,
        )

    def _context(self, session: ActiveSession) -> RedtrustContext:
        bound: AsyncUserClient | UserClient | None = None
        if isinstance(self.client, AsyncClient):
            bound = AsyncUserClient(self.client, session.tokens)
        elif isinstance(self.client, Client):
            bound = UserClient(self.client, session.tokens)
        return RedtrustContext(
            tokens=session.tokens,
            created_at=session.created_at,
            refreshed=session.refreshed,
            client=bound,
            signout_token=signout_token(session.handle),
        )

    def _load(self, request: WebRequest) -> GateFlow:
        handle = self.session_handle(request.headers.get("cookie"))
        if not handle:
            return _NO_SESSION if handle is None else self.signed_out
        try:
            session: ActiveSession | Exception | None = yield LoadSession(handle)
        except SESSION_PROBLEMS as error:
            session = error
        return self.after_load(session)


_NO_SESSION = Proceed(context=None)
#: Failures to load a session that leave it intact: the app runs, protected parts say 503.
SESSION_PROBLEMS = (RefreshFailedError, StoreError, UpstreamError)


R = TypeVar("R")


def run_gate(flow: Generator[ManagerCall, Any, R], manager: SessionManager) -> R:
    """Drive a gate flow with a synchronous session manager (WSGI, Django sync)."""
    try:
        call = next(flow)
        while True:
            try:
                result = call.apply(manager)
            except RedtrustError as error:
                call = flow.throw(error)
            else:
                call = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun_gate(flow: Generator[ManagerCall, Any, R], manager: AsyncSessionManager) -> R:
    """Drive a gate flow with an asynchronous session manager (ASGI, Django async)."""
    try:
        call = next(flow)
        while True:
            try:
                result = await call.apply(manager)
            except RedtrustError as error:
                call = flow.throw(error)
            else:
                call = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
