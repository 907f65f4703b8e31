"""The web gate: a neutral request in, a response or "proceed" out.

Every web face (the generic ASGI and WSGI middleware, Starlette, Django) turns its request into a
:class:`WebRequest` and asks the :class:`Gate` either to serve one of the library's routes
(:meth:`Gate.route`: login, callback, logout; a :class:`RouteAnswer`) or to load the session
for the app's own (:meth:`Gate.load`: a :class:`Proceed` with the signed-in context). So the
login redirect, the callback and the protection rules exist once.

Each route makes at most one call of the session manager. The gate's pure methods decide
before that call and turn its result (or its error) into the answer; :meth:`Gate.route` and
:meth:`Gate.aroute` (and :meth:`Gate.load` / :meth:`Gate.aload`) only make the call, with a
:class:`SessionManager` or an :class:`AsyncSessionManager`, as httpx's ``Client`` and
``AsyncClient`` do around ``BaseClient``.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Literal, TypeAlias
from urllib.parse import quote, unquote, urlsplit

from . import _pages, telemetry
from ._clock import Clock, system_clock
from ._hosts import HostCheck
from ._pages import WebResponse
from ._signout import MAX_FORM_BYTES, SIGNOUT_FIELD, signout_proven, signout_token
from .client import AsyncClient, AsyncUserClient, Client, UserClient, bind_client
from .config import RedtrustConfig
from .exceptions import (
    CallbackError,
    ConfigurationError,
    RedtrustError,
    RefreshFailedError,
    StoreError,
    TokenError,
    UpstreamError,
)
from .logevents import error_fields, log
from .login import is_handle, nonce_cookie_value, parse_nonce_cookie, validate_next
from .pages import PageRenderer, Pages
from .session import ActiveSession, AsyncSessionManager, LoginDone, LoginStart, SessionManager
from .session.flows import LocalRead, SessionFlows
from .session.memo import Cache
from .stores import LocalEntry
from .tokens import TokenSet

__all__ = [
    "MAX_FORM_BYTES",
    "SIGNOUT_FIELD",
    "Browser",
    "Gate",
    "Proceed",
    "RedtrustContext",
    "RouteAnswer",
    "RouteName",
    "WebRequest",
    "WebResponse",
    "parse_cookies",
    "signout_token",
    "under_prefixes",
]

logger = logging.getLogger(__name__)

MAX_COOKIE_HEADER = 8192
# The gate's memo of handles by Cookie header keeps only short headers: with
# ``local_sessions`` entries (100,000 by default) it holds at most about 110 MB, typically
# a third of that (a browser's Cookie header is a few hundred characters).
_MEMO_HEADER_CHARS = 1024
# Read once: served finds an empty tracing context (no span) without calling recording.
_current_context = telemetry.current_context
#: The library's routes, by the name a face serves them under.
RouteName: TypeAlias = Literal["login", "callback", "logout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebRequest:
    """What the gate needs from an HTTP request, in any framework.

    ``headers`` has lower-case names (several values joined by ``, ``; cookies by ``; ``).
    ``path`` is the routed path (already percent-decoded by the server), ``query`` raw bytes.
    ``body`` is read only where :meth:`Gate.wants_body` says so (the sign-out POST).
    ``root`` is where the app is mounted (WSGI's ``SCRIPT_NAME``), as the browser sends it:
    the routes are matched below it, and the URLs of the library's routes that the gate
    hands the browser (login, sign-out) start with it.
    """

    method: str
    path: str
    query: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    scheme: str = "http"
    body: bytes = field(default=b"", repr=False)
    root: str = ""


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


def under_prefixes(path: str, prefixes: Sequence[str]) -> bool:
    """True when ``path`` is one of ``prefixes`` or lies below one (whole segments only:
    ``/me`` guards ``/me/x`` but not ``/meadow``)."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


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


class Gate:
    """The library's routes and the per-request session step, for one app.

    Args:
        config: the Redtrust configuration. Its ``public_url`` is required: it fixes the
            callback URL (never taken from a ``Host`` header) and the cookies' ``Secure`` flag.
        api_prefixes: paths whose callers get 401 JSON instead of a login redirect.
        client: the Redtrust client handed to each request's context.
        clock: when login starts at another host than ``public_url``'s happened.
        pages: what renders the library's pages (default: :class:`~.pages.Pages`, the
            built-in templates in the browser's language).
        session_cookie: the cookie the sign-in travels in, when the framework keeps the
            session itself (Django's ``SESSION_COOKIE_NAME``); the 401 challenge names it.
            Default: the gate's own cookie, ``__Host-redtrust_session`` over https.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        api_prefixes: Sequence[str] = ("/api/",),
        client: AsyncClient | Client | None = None,
        clock: Clock = system_clock,
        pages: PageRenderer | None = None,
        session_cookie: str | None = None,
    ) -> None:
        if config.public_url is None or config.redirect_url is None:
            raise ConfigurationError(
                "public_url",
                "is required by the web middleware (Redtrust sends the browser back to it): "
                "set it to the URL the browser opens, e.g. http://127.0.0.1:8000",
                variable="REDTRUST_PUBLIC_URL",
            )
        self.config = config
        self.client = client
        self.pages: PageRenderer = pages if pages is not None else _default_pages()
        self.api_prefixes = tuple(api_prefixes)
        self.callback_url = config.redirect_url
        parts = urlsplit(config.public_url)
        self.origin = (parts.scheme, parts.netloc)
        self.hosts = HostCheck(
            config.public_url, pending_login_ttl=config.pending_login_ttl, clock=clock
        )
        self.secure = parts.scheme == "https"
        # __Host- binds the cookie to this exact host over https, path /, no Domain.
        prefix = "__Host-" if self.secure else ""
        self.session_cookie = session_cookie or f"{prefix}redtrust_session"
        self.login_cookie = f"{prefix}redtrust_login"
        #: The paths the cookie face serves itself, and which route each one is.
        self.routes: dict[str, RouteName] = {
            config.login_path: "login",
            config.callback_path: "callback",
            config.logout_path: "logout",
        }
        self._session_cookie_value = re.compile(
            r"(?:^|;)\s*" + re.escape(self.session_cookie) + r"=([^;]*)"
        )
        # Sized like the session layer's caches: one entry per session this process serves,
        # evicting the oldest in constant time (cleared when full, a round-robin over more
        # sessions than they held rebuilt every answer on every request).
        sessions = config.local_sessions
        self._proceeds: Cache[int, tuple[ActiveSession, Proceed]] = Cache(max_entries=sessions)
        #: Cookie header -> the valid handle it carries.
        self._handles: Cache[str, str] = Cache(max_entries=sessions)
        #: A request's session as the face names it (Cookie header, or handle) -> the flows
        #: that served it, what they served, and the answer: :meth:`served`.
        self._served: Cache[str | bytes, _Served] = Cache(max_entries=sessions)
        #: What the app gets without a session cookie, and with one that is no longer valid.
        self.no_session = _NO_SESSION
        self.signed_out = Proceed(
            context=None, set_cookies=(self._clear(self.session_cookie),), vary_cookie=True
        )

    # -- the routes, around one call of the session manager ---------------------------------

    def route(
        self, manager: SessionManager, name: RouteName, request: WebRequest, browser: Browser
    ) -> RouteAnswer:
        """Serve the route ``name`` with a synchronous session manager (Django's views, WSGI)."""
        answer = self.answer_before_call(name, request, browser)
        if answer is not None:
            return answer
        try:
            if name == "login":
                return self.login_started(
                    manager.begin_login(
                        next_url=self._query_next(request),
                        callback_url=self.callback_url,
                        browser_nonces=browser.nonces,
                    )
                )
            if name == "callback":
                return self.signed_in(
                    manager.complete_login(
                        query=request.query,
                        browser_nonces=browser.nonces,
                        previous_handle=browser.handle,
                    )
                )
            manager.logout(browser.handle)
        except RedtrustError as error:
            return self.call_failed(name, request, error)
        return self.logged_out(request)

    async def aroute(
        self, manager: AsyncSessionManager, name: RouteName, request: WebRequest, browser: Browser
    ) -> RouteAnswer:
        """Serve the route ``name`` with an asynchronous session manager (ASGI)."""
        answer = self.answer_before_call(name, request, browser)
        if answer is not None:
            return answer
        try:
            if name == "login":
                return self.login_started(
                    await manager.begin_login(
                        next_url=self._query_next(request),
                        callback_url=self.callback_url,
                        browser_nonces=browser.nonces,
                    )
                )
            if name == "callback":
                return self.signed_in(
                    await manager.complete_login(
                        query=request.query,
                        browser_nonces=browser.nonces,
                        previous_handle=browser.handle,
                    )
                )
            await manager.logout(browser.handle)
        except RedtrustError as error:
            return self.call_failed(name, request, error)
        return self.logged_out(request)

    def serve(self, manager: SessionManager, request: WebRequest) -> WebResponse:
        """The cookie face's answer for a request to one of :attr:`routes`: the route's
        response with the cookies that keep the browser's new state."""
        name = self._route_name(request)
        browser = self.browser_from_cookies(request)
        return self.with_cookies(self.route(manager, name, request, browser))

    async def aserve(self, manager: AsyncSessionManager, request: WebRequest) -> WebResponse:
        """:meth:`serve` with an asynchronous session manager."""
        name = self._route_name(request)
        browser = self.browser_from_cookies(request)
        return self.with_cookies(await self.aroute(manager, name, request, browser))

    def _route_name(self, request: WebRequest) -> RouteName:
        name = self.routes.get(request.path)
        if name is None:
            raise ValueError(f"{request.path!r} is not one of the library's routes")
        return name

    def answer_before_call(
        self, name: RouteName, request: WebRequest, browser: Browser
    ) -> RouteAnswer | None:
        """The route's answer when it needs no call of the session manager, else None."""
        method = request.method
        if name != "logout":
            if method != "GET":  # not even HEAD: starting a login writes a record
                return RouteAnswer(response=_pages.not_allowed(self.render(request), "GET", name))
            if name == "login":  # the login cookie must be set on public_url's host
                moved = self.hosts.login_target(
                    request.headers, request.scheme, self.config.login_path, request.query
                )
                return None if moved is None else RouteAnswer(response=_pages.redirect(302, moved))
            return None
        # logout: a confirmation form on GET; on a POST proven to come from this site, the
        # session ends.
        if method in ("GET", "HEAD"):
            handle = browser.handle
            token = signout_token(handle) if handle and is_handle(handle) else ""
            return RouteAnswer(
                response=_pages.signout_confirmation(
                    request.root + self.config.logout_path,
                    SIGNOUT_FIELD,
                    token,
                    render=self.render(request),
                )
            )
        if method != "POST":
            return RouteAnswer(
                response=_pages.not_allowed(self.render(request), "GET, HEAD, POST", "logout")
            )
        if not signout_proven(request.headers, request.body, browser.handle, self.origin):
            log(
                logger,
                "redtrust.signout.refused",
                "redtrust: sign-out refused (no proof it came from this site)",
                reason="no_proof",
            )
            refused = _pages.signout_refused(
                request.root + self.config.logout_path, render=self.render(request)
            )
            return RouteAnswer(response=refused)
        return None

    def login_started(self, start: LoginStart) -> RouteAnswer:
        """A pending login was written: off to Redtrust's signed login page."""
        response = _pages.redirect(302, start.url, ("referrer-policy", "no-referrer"))
        return RouteAnswer(response=response, nonces=start.browser_nonces)

    def signed_in(self, done: LoginDone) -> RouteAnswer:
        """A new session from Redtrust's redirect: off to ``next``."""
        # The callback's URL carried tkn: never pass it on as a referrer.
        response = _pages.redirect(303, done.next_url, ("referrer-policy", "no-referrer"))
        return RouteAnswer(response=response, handle=done.handle, nonces=done.browser_nonces)

    def logged_out(self, request: WebRequest) -> RouteAnswer:
        """The session ended: off to ``next`` (validated), the face forgets the handle."""
        target = validate_next(self._query_next(request), self.config)
        return RouteAnswer(response=_pages.redirect(303, target), signed_out=True)

    def call_failed(
        self, name: RouteName, request: WebRequest, error: RedtrustError
    ) -> RouteAnswer:
        """The answer when the route's call of the session manager raised ``error``; raises
        it again when the route has none (a bug or a misconfiguration, not an outage)."""
        as_json = self.wants_json(request)
        if name == "callback":
            if isinstance(error, CallbackError):
                # WARNING: a fresh Django project shows warnings only; the reason is the fix.
                hint, logged = self.hosts.refused_hints(request.headers, request.scheme, error.code)
                log(
                    logger,
                    "redtrust.login.refused",
                    "redtrust: callback refused (%s)%s",
                    error.code,
                    f": {logged}" if logged else "",
                    reason=error.code,
                )
                refused = _pages.callback_refused(
                    error,
                    as_json=as_json,
                    login_url=self.login_url(None, request.root),
                    render=self.render(request),
                    hint=hint,
                )
                return RouteAnswer(response=refused)
            if isinstance(error, UpstreamError | StoreError | TokenError):
                log(
                    logger,
                    "redtrust.login.failed",
                    "redtrust: sign-in not completed (%s)",
                    type(error).__name__,
                    **error_fields(error),
                )
                failed = _pages.sign_in_not_completed(
                    error,
                    as_json=as_json,
                    login_url=self.login_url(None, request.root),
                    render=self.render(request),
                )
                return RouteAnswer(response=failed)
        elif isinstance(error, StoreError):
            return RouteAnswer(
                response=_pages.unavailable(error, as_json=as_json, render=self.render(request))
            )
        raise error

    # -- the session of a request to the app's own routes -----------------------------------

    def load(
        self, manager: SessionManager, handle: str | None, *, remember: str | bytes | None = None
    ) -> Proceed:
        """What the app gets for the session ``handle`` (see :meth:`session_handle`: None
        for no session cookie, ``""`` for a malformed one), loaded with a synchronous
        session manager; refreshed first when due. Remembered as :meth:`load_local` does."""
        if not handle:
            return self.no_session if handle is None else self.signed_out
        try:
            session: ActiveSession | Exception | None = manager.get(handle)
        except SESSION_PROBLEMS as error:
            session = error
        return self._answer(manager, handle, remember, session)

    async def aload(
        self,
        manager: AsyncSessionManager,
        handle: str | None,
        *,
        remember: str | bytes | None = None,
    ) -> Proceed:
        """:meth:`load` with an asynchronous session manager (see :meth:`load_local` first)."""
        if not handle:
            return self.no_session if handle is None else self.signed_out
        try:
            session: ActiveSession | Exception | None = await manager.get(handle)
        except SESSION_PROBLEMS as error:
            session = error
        return self._answer(manager, handle, remember, session)

    def served(
        self,
        manager: SessionManager | AsyncSessionManager,
        key: str | bytes | None,
        read: LocalRead | None = None,
    ) -> Proceed | None:
        """The answer :meth:`load_local` (or :meth:`load`, :meth:`aload`) gave the last
        request whose session ``key`` named (the ``Cookie`` header as the face reads it, or
        the handle: what it passed as ``remember``), when ``manager`` may serve it again as
        it is (over its store's local read, or ``read``: that of the store the request would
        use); else None. No ``key`` (no Cookie header, no handle): :attr:`no_session`. One
        lookup: the signed-in request's fast path."""
        if key is None:
            return self.no_session
        found = self._served.get(key)
        if found is None:
            return None
        flows, known, blob, entry, until, proceed = found
        # As the manager's get_local would: the very bytes read before (by identity: the
        # store's very entry, when it has them), still before their deadline, on a request
        # that is not sampled (its read must get its store span).
        try:
            if read is None and entry is not None:
                get = manager.local_entry
                same = get is not None and get(known) is entry
            else:
                if read is None:
                    read = manager.local_read
                same = read is not None and read(known) is blob
            if (
                same
                and flows is manager.flows
                and flows.clock() < until
                and (
                    ((context := _current_context) is not None and not context())
                    or not telemetry.recording()
                )
            ):
                return proceed
        except SESSION_PROBLEMS:
            pass  # a store's local read failed: the full path says so (load, aload)
        return None

    def load_local(
        self,
        manager: SessionManager | AsyncSessionManager,
        handle: str | None,
        *,
        remember: str | bytes | None = None,
    ) -> Proceed | None:
        """:meth:`load`'s answer when it needs no I/O (no session cookie, or the manager
        serves the session from this process: :meth:`AsyncSessionManager.get_local`), else
        None: then :meth:`aload`. Not a coroutine, so most requests of an async face await
        nothing before the app runs. A session served is remembered under ``remember``
        (default: the handle), for :meth:`served`."""
        if not handle:
            return self.no_session if handle is None else self.signed_out
        try:
            session = manager.get_local(handle)
        except SESSION_PROBLEMS:
            return None  # a store's local read failed: the full path says so (load, aload)
        if session is None:
            return None
        return self._answer(manager, handle, remember, session)

    def _answer(
        self,
        manager: SessionManager | AsyncSessionManager,
        handle: str,
        remember: str | bytes | None,
        session: ActiveSession | Exception | None,
    ) -> Proceed:
        """:meth:`after_load`'s answer, remembered for :meth:`served` under ``remember``
        (default: the handle) when the manager's flows serve ``session`` again as it is
        (they do only over a store with local reads)."""
        proceed = self.after_load(session)
        key = handle if remember is None else remember
        if len(key) > _MEMO_HEADER_CHARS:
            return proceed  # as session_handle's memo: a long header is never kept
        flows = manager.flows
        serving = flows.serving(handle)
        if serving is None or serving[2] is not session:
            return proceed
        known, blob, _, until = serving
        # The store's entry, when it keeps pairs whose deadline is on the flows' own clock
        # (the manager offers them only then): a hit is one identity check, the store's
        # deadline folded into ``until``.
        get, entry = manager.local_entry, None
        if get is not None:
            entry = get(known)
            if entry is not None and entry[1] is blob:
                until = min(until, entry[0])
            else:
                entry = None
        self._served.put(key, (flows, known, blob, entry, until, proceed))
        return proceed

    def after_load(self, session: ActiveSession | Exception | None) -> Proceed:
        """What the app gets once the session was loaded (or failed to load)."""
        if isinstance(session, ActiveSession):
            # Sessions unchanged since the last request are the same object: reuse its answer.
            cached = self._proceeds.get(id(session))
            if cached is not None and cached[0] is session:
                return cached[1]
            proceed = Proceed(context=self._context(session), vary_cookie=True)
            self._proceeds.put(id(session), (session, proceed))
            return proceed
        if session is None:
            return self.signed_out
        log(
            logger,
            "redtrust.session.unavailable",
            "redtrust: session unavailable (%s)",
            type(session).__name__,
            error_type=type(session).__name__,
        )
        return Proceed(
            context=None,
            vary_cookie=True,
            problem=session if isinstance(session, RedtrustError) else None,
        )

    def _context(self, session: ActiveSession) -> RedtrustContext:
        return RedtrustContext(
            tokens=session.tokens,
            created_at=session.created_at,
            refreshed=session.refreshed,
            client=bind_client(self.client, session.tokens),
            signout_token=signout_token(session.handle),
        )

    # -- cookies ----------------------------------------------------------------------------

    def session_handle(self, cookie_header: str | None) -> str | None:
        """The session handle from a ``Cookie`` header: None when there is no session cookie,
        ``""`` when there is one but it is malformed (it is then cleared)."""
        if not cookie_header or self.session_cookie not in cookie_header:
            return None  # the common case costs no parsing and no store access
        # A browser sends the same header on every request: parse it once (bounded).
        known = self._handles.get(cookie_header)
        if known is not None:
            return known
        if len(cookie_header) > MAX_COOKIE_HEADER:
            return None
        found = self._session_cookie_value.findall(cookie_header)
        if len(found) != 1:
            # None, or several (one tossed in by a sibling site): trust none, clear nothing.
            return None
        handle: str = found[0]
        if not is_handle(handle):
            handle = handle.strip().strip('"')
            if not is_handle(handle):
                return ""
        if len(cookie_header) <= _MEMO_HEADER_CHARS:
            self._handles.put(cookie_header, handle)
        return handle

    def browser_from_cookies(self, request: WebRequest) -> Browser:
        """The browser state the cookie face keeps: the session and pending-login cookies."""
        cookies = parse_cookies(request.headers.get("cookie"))
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

    def render(self, request: WebRequest) -> _pages.Render:
        """What renders a page for ``request`` (in the language its headers ask for)."""
        return partial(self.pages.render, headers=request.headers)

    def wants_body(self, request: WebRequest) -> bool:
        """True when the face must read the body into :attr:`WebRequest.body` (at most
        :data:`MAX_FORM_BYTES`): the sign-out POST, whose form carries the sign-out token."""
        return request.method == "POST" and request.path == self.config.logout_path

    def login_url(self, next_url: str | None, root: str = "") -> str:
        """The library's login route (below ``root``, see :attr:`WebRequest.root`), carrying
        ``next`` (validated again when used)."""
        login_path = root + self.config.login_path
        if not next_url:
            return login_path
        return f"{login_path}?next={quote(next_url, safe='')}"

    def unauthenticated(self, request: WebRequest, next_url: str | None) -> WebResponse:
        """What a protected endpoint answers without a session: 302 or 401 JSON."""
        login_url = self.login_url(next_url, request.root)
        return _pages.unauthenticated(
            as_json=self.wants_json(request),
            login_url=login_url,
            challenge=self.challenge(login_url),
        )

    def challenge(self, login_url: str) -> str:
        """The ``WWW-Authenticate`` challenge of a 401: ``Cookie realm="redtrust",
        cookie-name=<the session cookie>, login-url="<login_url>"``.

        RFC 9110 (section 11.6.1) requires a challenge on every 401, and it must name what
        this server accepts: a session cookie, set by signing in at ``login_url``. Not
        ``Bearer``: no bearer token is accepted here, and RFC 6750 clients would send one. No
        registered scheme means "sign in through a page, then send a cookie"; ``Cookie`` and
        its ``realm`` and ``cookie-name`` parameters follow draft-broyer-http-cookie-auth,
        ``login-url`` is an extension parameter (that draft's ``form-action`` names a form
        that takes credentials, which ours does not). Clients skip schemes they do not know.
        """
        # login_url is percent-encoded (login_url()); escape for a quoted-string anyway.
        quoted = login_url.replace("\\", "\\\\").replace('"', '\\"')
        return f'Cookie realm="redtrust", cookie-name={self.session_cookie}, login-url="{quoted}"'

    def refusal(
        self, request: WebRequest, next_url: str | None, problem: RedtrustError | None
    ) -> WebResponse:
        """What a protected endpoint answers when the request has no signed-in user.

        ``problem`` is why the session could not be read (:attr:`Proceed.problem`: Redtrust
        or the store unavailable): then the clear 502/503 of :meth:`unavailable`, since the
        user may well be signed in and a login would not help. Otherwise
        :meth:`unauthenticated`: a page navigation gets a 302 to the login route with
        ``next_url`` (the request's own path and query, as the browser sends them), an API or
        fetch caller a 401 JSON with ``login_url``. Pure: it reads nothing but its arguments.
        """
        if problem is not None:
            return self.unavailable(request, problem)
        return self.unauthenticated(request, next_url)

    def unavailable(self, request: WebRequest, error: RedtrustError) -> WebResponse:
        """A clear 502/503 (JSON for API callers), never a traceback or a token.

        A store failure (``store_unavailable``) is told apart from Redtrust failing
        (``redtrust_unavailable``): the operator looks in a different place.
        """
        return _pages.unavailable(
            error, as_json=self.wants_json(request), render=self.render(request)
        )

    def _query_next(self, request: WebRequest) -> str | None:
        for part in request.query.decode("latin-1").split("&"):
            name, _, value = part.partition("=")
            if name == "next":
                return unquote(value)
        return None


_NO_SESSION = Proceed(context=None)
#: A memo entry of :meth:`Gate.served`: the flows that served the session, its key, the
#: bytes they read, the store's entry holding them (or None), the deadline, and the answer.
_Served: TypeAlias = "tuple[SessionFlows, str, bytes, LocalEntry | None, float, Proceed]"


@cache
def _default_pages() -> Pages:
    """The built-in pages, read once per process (every gate without its own shares them)."""
    return Pages()


#: Failures to load a session that leave it intact: the app runs, protected parts say 503.
SESSION_PROBLEMS = (RefreshFailedError, StoreError, UpstreamError)
