"""The app of ``redtrust demo``: the example pages on the core's ASGI middleware, no framework.

:class:`~redtrust_middleware.asgi.RedtrustASGIMiddleware` serves sign-in, the callback and
sign-out and sends whoever is not signed in from the protected paths to sign in (a 401 JSON
under ``/api/``); behind it :class:`DemoPages` serves ``/`` (public), ``/me`` (a protected
page), ``/api/me`` (protected JSON) and the Certificates page (request, list and renew
certificates; the demo CA signs them). The HTML is :mod:`.pages`, the examples' own. A POST
answers a 303 back to its page (post/redirect/get); bad input a 400 page before anything is
sent; Redtrust failing the middleware's clear 502/503.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

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
    MAX_FORM_BYTES,
    RENEW,
    CertificateBook,
    certificates_body,
    describe,
    error_body,
    home_body,
    me_body,
    page,
    page_headers,
    parse_form,
    renew_certificate,
    request_certificate,
    user_key,
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
) -> ASGIApp:
    """The demo app behind the Redtrust middleware; ``ca`` defaults to a new :class:`DemoCA`
    (the partner's CA that signs the certificates), ``book`` to an empty one."""
    pages = DemoPages(config.logout_path, ca if ca is not None else DemoCA(), book)
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


def _back_to(path: str) -> WebResponse:
    """Post/redirect/get: a reload of the result page does not submit again."""
    return WebResponse(status=303, headers=(("location", path),))


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


class DemoPages:
    """The demo's pages, an ASGI app behind :class:`RedtrustASGIMiddleware` (which publishes
    the signed-in user as ``scope["redtrust"]``)."""

    def __init__(self, logout_path: str, ca: DemoCA, book: CertificateBook | None = None) -> None:
        self._logout = logout_path
        self._ca = ca
        self._book = book if book is not None else CertificateBook()
        #: path -> (the methods it answers, its handler)
        self._routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "/": (("GET", "HEAD"), self.home),
            "/me": (("GET", "HEAD"), self.me),
            "/api/me": (("GET", "HEAD"), self.api_me),
            CERTIFICATES: (("GET", "HEAD", "POST"), self.certificates),
            RENEW: (("POST",), self.renew),
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

    def _page(
        self, title: str, body: str, context: RedtrustContext | None, status: int = 200
    ) -> WebResponse:
        text = page(title, body, logout_path=self._logout, context=context)
        return WebResponse(
            status=status,
            headers=(("content-type", "text/html; charset=utf-8"), *page_headers(context).items()),
            body=text.encode(),
        )

    async def home(self, scope: Scope, receive: Receive) -> WebResponse:
        context = _context(scope)
        return self._page("Redtrust example", home_body(context), context)

    async def me(self, scope: Scope, receive: Receive) -> WebResponse:
        context = _signed_in(scope)
        return self._page("Me", me_body(context), context)

    async def api_me(self, scope: Scope, receive: Receive) -> WebResponse:
        context = _signed_in(scope)
        body = json.dumps(describe(context), ensure_ascii=False, separators=(",", ":"))
        headers = (("content-type", "application/json"), *page_headers(context).items())
        return WebResponse(status=200, headers=headers, body=body.encode())

    async def certificates(self, scope: Scope, receive: Receive) -> WebResponse:
        """GET: the request form and the user's certificates; POST: request a new one."""
        context = _signed_in(scope)
        if scope["method"] != "POST":
            mine = self._book.certificates(user_key(context))
            body = certificates_body(mine, action=CERTIFICATES, renew_action=RENEW)
            return self._page("Certificates", body, context)
        try:
            form = await _read_form(scope, receive)
            await request_certificate(self._book, context, form, self._ca.issue)
        except InvalidInputError as error:
            return self._page("Certificates", error_body(error, CERTIFICATES), context, 400)
        return _back_to(CERTIFICATES)

    async def renew(self, scope: Scope, receive: Receive) -> WebResponse:
        """Renew one of the user's certificates (same subject); the new one replaces it."""
        context = _signed_in(scope)
        try:
            form = await _read_form(scope, receive)
            await renew_certificate(self._book, context, form, self._ca.issue)
        except InvalidInputError as error:
            return self._page("Certificates", error_body(error, CERTIFICATES), context, 400)
        return _back_to(CERTIFICATES)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down (whoever owns the session manager closes it)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
