"""Generic ASGI middleware: Redtrust sign-in for any ASGI app, no framework needed.

It serves the login, callback and logout routes itself, keeps the opaque session handle in an
HttpOnly cookie, refreshes the access token before expiry (single-flight) and publishes the
signed-in context as ``scope["redtrust"]`` (None when signed out). Everything it decides comes
from :class:`redtrust_middleware.web.Gate`; this module only speaks ASGI.

Pure ASGI: non-HTTP scopes (lifespan, websocket) pass through untouched, nothing about a
request is kept on the instance, and a cookie is written only when it changes. A configuration
the middleware cannot work with (no ``public_url``) is told when the app starts: the lifespan
startup fails with the message, so the server prints it and refuses to start (Starlette and
FastAPI build their middleware on that first call, so raising then would be swallowed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from .config import RedtrustConfig
from .exceptions import ConfigurationError
from .hooks import Hooks
from .pages import PageRenderer
from .session import AsyncSessionManager
from .stores import AsyncStore
from .web import (
    MAX_FORM_BYTES,
    SESSION_PROBLEMS,
    Gate,
    Proceed,
    RedtrustContext,
    WebRequest,
    WebResponse,
    under_prefixes,
)

__all__ = [
    "GATE_KEY",
    "MANAGER_KEY",
    "PROBLEM_KEY",
    "SCOPE_KEY",
    "RedtrustASGIMiddleware",
    "Refusal",
    "read_route_request",
    "refuse_startup",
    "request_from_scope",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the signed-in :class:`~redtrust_middleware.web.RedtrustContext` is published.
SCOPE_KEY = "redtrust"
#: Why there is no context although a session cookie came (an error), else absent.
PROBLEM_KEY = "redtrust.problem"
#: The gate, for decorators and dependencies that answer "sign in first".
GATE_KEY = "redtrust.gate"
#: The session manager, for routes mounted in the app instead of served by the middleware:
#: published on requests to the library's paths only (a key fewer in every other scope).
MANAGER_KEY = "redtrust.manager"


def request_from_scope(scope: Scope) -> WebRequest:
    """The neutral request for an HTTP scope (header values joined, names lower-case)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return WebRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=headers,
        scheme=scope.get("scheme", "http"),
    )


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, or ``b""`` once it grows past ``limit`` bytes (not read further)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b""
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_route_request(gate: Gate, scope: Scope, receive: Receive) -> WebRequest:
    """The neutral request for one of the library's routes, with the body where the gate
    needs it (the sign-out form's token)."""
    request = request_from_scope(scope)
    if gate.wants_body(request):
        request = replace(request, body=await read_body(receive, MAX_FORM_BYTES))
    return request


def full_path(scope: Scope) -> str:
    """The request's path and query as the browser sent them (for ``next``)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


async def send_response(
    send: Send, response: WebResponse, extra_headers: Sequence[tuple[str, str]] = ()
) -> None:
    """Send a complete :class:`WebResponse`."""
    headers = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in (*response.headers, *extra_headers)
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


# The common cases, shared (never mutated): signed in, and no session cookie.
_VARY_COOKIE: list[tuple[bytes, bytes]] = [(b"vary", b"Cookie")]
_NO_HEADERS: list[tuple[bytes, bytes]] = []


def cookie_headers(outcome: Proceed) -> list[tuple[bytes, bytes]]:
    """The headers the app's response gains: cookies that changed, and ``Vary: Cookie``."""
    headers = [(b"set-cookie", c.encode("latin-1")) for c in outcome.set_cookies]
    if outcome.vary_cookie:
        headers.append((b"vary", b"Cookie"))
    return headers


async def refuse_startup(error: Exception, receive: Receive, send: Send) -> None:
    """Serve a ``lifespan`` scope by failing its startup with ``error``'s message: uvicorn
    (or another server) prints it and does not start, instead of failing every request."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.failed", "message": f"redtrust: {error}"})
            return
        if message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Refusal(Exception):
    """Raised by a dependency or view to answer with ``response`` (sign in first, or 503).

    The middleware catches it and sends the response, so frameworks whose error handlers
    only speak JSON (FastAPI) still answer page navigations with a redirect or an HTML page.
    """

    def __init__(self, response: WebResponse) -> None:
        super().__init__(response.status)
        self.response = response


class RedtrustASGIMiddleware:
    """Redtrust sign-in in front of any ASGI app.

    Args:
        app: the wrapped ASGI app.
        config: the Redtrust configuration.
        store: where sessions live (default: in memory, this process only).
        manager: a ready :class:`AsyncSessionManager` (overrides ``store``), e.g. to share it.
        protect: path prefixes the middleware itself guards (whole segments); others only see
            ``scope["redtrust"]`` and decide for themselves.
        api_prefixes: paths whose callers get 401 JSON instead of a login redirect.
        serve_routes: False when the routes are mounted in the app instead.
        pages: what renders the library's pages (default: the built-in templates, in the
            browser's language); ``Pages(templates=..., locales=...)`` overrides them.
        hooks: callbacks on sign-in, refresh and session end
            (:class:`~redtrust_middleware.hooks.Hooks`; with ``manager``, they replace its own).
    """

    #: Also publish the context as ``scope["state"]["redtrust"]`` (Starlette's request.state).
    fill_state = False

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: RedtrustConfig,
        store: AsyncStore | None = None,
        manager: AsyncSessionManager | None = None,
        protect: Sequence[str] = (),
        api_prefixes: Sequence[str] = ("/api/",),
        serve_routes: bool = True,
        pages: PageRenderer | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self._owns_manager = manager is None
        if manager is None:
            manager = AsyncSessionManager(config, store=store, hooks=hooks)
        elif hooks is not None:
            manager = manager.with_hooks(hooks)
        self.manager = manager
        self.protect = tuple(protect)
        self.serve_routes = serve_routes
        #: Why the middleware cannot work (told at startup, raised by every request), or None.
        self.problem: ConfigurationError | None = None
        try:
            self.gate = Gate(
                config,
                api_prefixes=api_prefixes,
                client=self.manager.client,
                clock=self.manager.flows.clock,
                pages=pages,
            )
        except ConfigurationError as error:
            self.problem = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.problem is not None or scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        gate, path = self.gate, scope["path"]
        if path in gate.routes:
            await self._route(scope, receive, send)
            return
        cookie, manager = None, self.manager
        for name, value in scope["headers"]:  # the Cookie header as sent, decoding nothing
            if name == b"cookie":  # ASGI header names are lower-case
                cookie = value if cookie is None else b"%s; %s" % (cookie, value)
        # Most signed-in requests are answered in this process, as the one before with the
        # same cookie was: one lookup, no parsing, no coroutine.
        outcome = gate.served(manager, cookie)
        if outcome is None:
            handle = gate.session_handle(None if cookie is None else cookie.decode("latin-1"))
            outcome = gate.load_local(manager, handle, remember=cookie)
            if outcome is None:
                outcome = await gate.aload(manager, handle, remember=cookie)
        if outcome.context is None and self.protect and under_prefixes(path, self.protect):
            refusal = gate.refusal(request_from_scope(scope), full_path(scope), outcome.problem)
            await send_response(send, refusal, outcome_headers(outcome))
            return
        self.publish(scope, outcome.context, outcome.problem)
        if outcome.set_cookies:
            extra = cookie_headers(outcome)
        else:
            extra = _VARY_COOKIE if outcome.vary_cookie else _NO_HEADERS
        started = False

        # Not a coroutine function: it hands back the server's own awaitable, so a message
        # passing through costs no coroutine of ours (two per request).
        def send_with_cookies(message: Message) -> Awaitable[None]:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if extra:
                    # A new message and header list: the app may send the same ones (its
                    # constants) every time, so neither is extended in place.
                    headers = message.get("headers", ())
                    message = {
                        **message,
                        "headers": headers + extra if type(headers) is list else [*headers, *extra],
                    }
            return send(message)

        try:
            await self.app(scope, receive, send_with_cookies)
        except Refusal as refusal:
            if started:
                raise
            await send_response(send, refusal.response, outcome_headers(outcome))
        except SESSION_PROBLEMS as error:
            # Redtrust or the store failed inside the app (an RA call, say): the same clear
            # 502/503 as everywhere else, never a traceback.
            if started:
                raise
            answer = gate.unavailable(request_from_scope(scope), error)
            await send_response(send, answer, outcome_headers(outcome))

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A scope that is not an HTTP request (or any scope, when the configuration cannot
        work): passed through, the lifespan watched for our shutdown."""
        if self.problem is not None:
            if scope["type"] == "lifespan":
                await refuse_startup(self.problem, receive, send)
                return
            problem = self.problem  # a fresh exception each time: no growing traceback
            raise ConfigurationError(problem.field, problem.problem, variable=problem.variable)
        if scope["type"] == "lifespan" and self._owns_manager:
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        await self.app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request to one of the library's routes: served here, or by the app."""
        if not self.serve_routes:
            scope[MANAGER_KEY] = self.manager  # what the mounted routes serve with
            await self.app(self.publish(scope, None, None), receive, send)
            return
        request = await read_route_request(self.gate, scope, receive)
        await send_response(send, await self.gate.aserve(self.manager, request))

    def publish(
        self, scope: Scope, context: RedtrustContext | None, problem: Exception | None
    ) -> Scope:
        """Put the context into ``scope`` (in place, as Starlette's own middleware do, so
        middleware further out still see what the app added to the scope)."""
        scope[SCOPE_KEY] = context
        scope[GATE_KEY] = self.gate
        if problem is not None:
            scope[PROBLEM_KEY] = problem
        if self.fill_state:
            # A new dict: some servers share one state dict between the requests of a
            # connection (or with the lifespan); never write one user into it.
            state = scope.get("state")
            scope["state"] = {**state, "redtrust": context} if state else {"redtrust": context}
        return scope

    def _closing_on_shutdown(self, send: Send) -> Send:
        """``send`` that closes our connection pool once the app finished shutting down."""

        async def watch(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        return watch

    async def aclose(self) -> None:
        """Close the HTTP connection pool to Redtrust."""
        await self.manager.aclose()


def outcome_headers(outcome: Proceed) -> list[tuple[str, str]]:
    """:func:`cookie_headers` as text pairs, for responses the middleware sends itself (and
    the WSGI face, on every request)."""
    if outcome.vary_cookie and not outcome.set_cookies:
        return [("vary", "Cookie")]  # a signed-in request: the common case, not decoded
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in cookie_headers(outcome)]
