"""The app of ``redtrust demo``: the example pages on the core's ASGI middleware, no framework.

:class:`~redtrust_middleware.asgi.RedtrustASGIMiddleware` serves sign-in, the callback and
sign-out and sends whoever is not signed in from the protected paths to sign in (a 401 JSON
under ``/api/``); behind it :class:`DemoPages` serves ``/`` (public), ``/me`` (a protected
page), ``/api/me`` (protected JSON) and the Certificates page (request, list and renew
certificates, download them as PEM; the demo CA signs them). The routes are :mod:`.pages`,
the examples' own: a POST answers a 303 back to its page with a notice (post/redirect/get);
bad input the form again (400) before anything is sent; Redtrust failing the middleware's
clear 502/503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._clock import Clock, system_clock
from ..asgi import (
    SCOPE_KEY,
    ASGIApp,
    Receive,
    RedtrustASGIMiddleware,
    Scope,
    Send,
    request_from_scope,
    send_response,
)
from ..config import RedtrustConfig
from ..exceptions import InvalidInputError
from ..sandbox import DemoCA
from ..session import AsyncSessionManager
from ..web import RedtrustContext, WebResponse
from .pages import (
    CERTIFICATES,
    DOWNLOAD,
    MAX_FORM_BYTES,
    RENEW,
    CertificateBook,
    ExamplePages,
    parse_form,
)

__all__ = ["PROTECTED", "DemoPages", "create_app"]

#: The paths only signed-in users reach (with everything below them, e.g. the renew form).
PROTECTED = ("/me", "/api/me", CERTIFICATES)

Handler = Callable[[Scope, Receive], Awaitable[WebResponse]]


def create_app(
    config: RedtrustConfig,
    *,
    manager: AsyncSessionManager | None = None,
    ca: DemoCA | None = None,
    book: CertificateBook | None = None,
    clock: Clock = system_clock,
) -> ASGIApp:
    """The demo app behind the Redtrust middleware; ``ca`` defaults to a new :class:`DemoCA`
    (the partner's CA that signs the certificates), ``book`` to an empty one; ``clock`` is
    what the pages measure "in 4 min" from."""
    ca = ca if ca is not None else DemoCA()
    pages = DemoPages(
        ExamplePages(logout_path=config.logout_path, issue=ca.issue, book=book, clock=clock)
    )
    return RedtrustASGIMiddleware(pages, config=config, manager=manager, protect=PROTECTED)


def _context(scope: Scope) -> RedtrustContext | None:
    context = scope.get(SCOPE_KEY)
    return context if isinstance(context, RedtrustContext) else None


def _signed_in(scope: Scope) -> RedtrustContext:
    context = _context(scope)
    if context is None:  # the middleware guards PROTECTED: a bug, not a visitor's mistake
        raise RuntimeError(f"{scope['path']} is served without a signed-in user")
    return context


def _text(status: int, text: str, *headers: tuple[str, str]) -> WebResponse:
    return WebResponse(
        status=status,
        headers=(("content-type", "text/plain; charset=utf-8"), *headers),
        body=text.encode(),
    )


async def _read_form(scope: Scope, receive: Receive) -> dict[str, str]:
    """The urlencoded form of a POST, read with a size cap.

    Raises:
        InvalidInputError: another content type, or a body past :data:`MAX_FORM_BYTES`.
    """
    content_type = request_from_scope(scope).headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidInputError("form", "must be application/x-www-form-urlencoded")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; nobody reads the answer
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            raise InvalidInputError("form", f"must be at most {MAX_FORM_BYTES} bytes")
        if not message.get("more_body", False):
            break
    return parse_form(bytes(body))


def _query(scope: Scope) -> str:
    raw: bytes = scope.get("query_string", b"")
    return raw.decode("latin-1")


class DemoPages:
    """The demo's pages, an ASGI app behind :class:`RedtrustASGIMiddleware` (which publishes
    the signed-in user as ``scope["redtrust"]``): :class:`.pages.ExamplePages` served as is."""

    def __init__(self, pages: ExamplePages) -> None:
        self._pages = pages
        #: path -> (the methods it answers, its handler)
        self._routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "/": (("GET", "HEAD"), self.home),
            "/me": (("GET", "HEAD"), self.me),
            "/api/me": (("GET", "HEAD"), self.api_me),
            CERTIFICATES: (("GET", "HEAD", "POST"), self.certificates),
            RENEW: (("POST",), self.renew),
            DOWNLOAD: (("GET", "HEAD"), self.download),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: none here
            await send({"type": "websocket.close", "code": 1000})
            return
        route = self._routes.get(scope["path"])
        if route is None:
            await send_response(send, _text(404, "Not Found"))
            return
        methods, handler = route
        if scope["method"] not in methods:
            allow = ("allow", ", ".join(methods))
            await send_response(send, _text(405, "Method Not Allowed", allow))
            return
        await send_response(send, await handler(scope, receive))

    async def home(self, scope: Scope, receive: Receive) -> WebResponse:
        return self._pages.home(_context(scope), _query(scope))

    async def me(self, scope: Scope, receive: Receive) -> WebResponse:
        return self._pages.me(_signed_in(scope))

    async def api_me(self, scope: Scope, receive: Receive) -> WebResponse:
        return self._pages.api_me(_signed_in(scope))

    async def certificates(self, scope: Scope, receive: Receive) -> WebResponse:
        """GET: the request form and the user's certificates; POST: request a new one."""
        context = _signed_in(scope)
        if scope["method"] != "POST":
            return self._pages.certificates(context, _query(scope))
        try:
            form = await _read_form(scope, receive)
        except InvalidInputError as error:
            return self._pages.refused(context, error)
        return await self._pages.request_certificate(context, form)

    async def renew(self, scope: Scope, receive: Receive) -> WebResponse:
        """Renew one of the user's certificates (same subject); the new one replaces it."""
        context = _signed_in(scope)
        try:
            form = await _read_form(scope, receive)
        except InvalidInputError as error:
            return self._pages.refused(context, error)
        return await self._pages.renew_certificate(context, form)

    async def download(self, scope: Scope, receive: Receive) -> WebResponse:
        """One of the user's certificates as a PEM file."""
        return self._pages.download(_signed_in(scope), _query(scope))


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down (whoever owns the session manager closes it)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
