"""A bare WSGI app signed in with Redtrust, no framework; configured by ``REDTRUST_*``.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 \
    gunicorn examples.wsgi_app:app --worker-class gthread --threads 4

The same pages as the other examples (:class:`~redtrust_middleware.cli.pages.ExamplePages`,
with the sync client): ``/`` public, ``/me`` a protected page, ``/api/me`` protected JSON,
``/certificates`` (request, list, renew and download certificates). The middleware guards
the protected paths; this file only turns the environ into the pages' arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from redtrust_middleware import (
    InvalidInputError,
    RedtrustConfig,
    RedtrustContext,
    RedtrustWSGIMiddleware,
    SessionManager,
    Store,
)
from redtrust_middleware.cli.pages import (
    CERTIFICATES,
    DOWNLOAD,
    MAX_FORM_BYTES,
    RENEW,
    ExamplePages,
    parse_form,
)
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_middleware.web import WebResponse
from redtrust_middleware.wsgi import ENVIRON_KEY, StartResponse, read_body

#: The paths only signed-in users reach (and everything below them).
PROTECTED = ("/me", "/api/me", CERTIFICATES)

Environ = dict[str, Any]


def _context(environ: Environ) -> RedtrustContext:
    context = environ.get(ENVIRON_KEY)
    if not isinstance(context, RedtrustContext):  # the middleware guards PROTECTED: a bug
        raise RuntimeError(f"{environ.get('PATH_INFO')} is served without a signed-in user")
    return context


def _form(environ: Environ) -> dict[str, str]:
    """The urlencoded form of a POST, read with a size cap."""
    content_type = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidInputError("form", "must be application/x-www-form-urlencoded")
    declared = str(environ.get("CONTENT_LENGTH") or "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise InvalidInputError("form", f"must be at most {MAX_FORM_BYTES} bytes")
    return parse_form(read_body(environ, MAX_FORM_BYTES))


class ExampleApp:
    """The example pages as a WSGI app (behind :class:`RedtrustWSGIMiddleware`)."""

    def __init__(self, pages: ExamplePages) -> None:
        self.pages = pages
        Handler = Callable[[Environ], WebResponse]
        #: path -> (the methods it answers, its handler)
        self.routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "/": (("GET", "HEAD"), self.home),
            "/me": (("GET", "HEAD"), lambda e: pages.me(_context(e))),
            "/api/me": (("GET", "HEAD"), lambda e: pages.api_me(_context(e))),
            CERTIFICATES: (("GET", "HEAD", "POST"), self.certificates),
            RENEW: (("POST",), self.renew),
            DOWNLOAD: (("GET", "HEAD"), lambda e: pages.download(_context(e), _query(e))),
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO") or "/")
        if route is None:
            answer = _text(404, "Not Found")
        elif environ["REQUEST_METHOD"] not in route[0]:
            answer = _text(405, "Method Not Allowed", ("allow", ", ".join(route[0])))
        else:
            answer = route[1](environ)
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", list(answer.headers))
        return [answer.body]

    def home(self, environ: Environ) -> WebResponse:
        context = environ.get(ENVIRON_KEY)
        return self.pages.home(
            context if isinstance(context, RedtrustContext) else None, _query(environ)
        )

    def certificates(self, environ: Environ) -> WebResponse:
        """GET: the form and the user's certificates; POST: request one (a Redtrust failure
        rises to the middleware, which answers its clear 502/503)."""
        context = _context(environ)
        if environ["REQUEST_METHOD"] != "POST":
            return self.pages.certificates(context, _query(environ))
        try:
            form = _form(environ)
        except InvalidInputError as error:
            return self.pages.refused(context, error)
        return self.pages.request_certificate_sync(context, form)

    def renew(self, environ: Environ) -> WebResponse:
        context = _context(environ)
        try:
            form = _form(environ)
        except InvalidInputError as error:
            return self.pages.refused(context, error)
        return self.pages.renew_certificate_sync(context, form)


_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
}


def _query(environ: Environ) -> str:
    return str(environ.get("QUERY_STRING", ""))


def _text(status: int, text: str, *headers: tuple[str, str]) -> WebResponse:
    return WebResponse(
        status=status,
        headers=(("content-type", "text/plain; charset=utf-8"), *headers),
        body=text.encode(),
    )


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: SessionManager | None = None,
    store: Store | None = None,
    ca: DemoCA | None = None,
    clock: Callable[[], float] = time.time,
) -> RedtrustWSGIMiddleware:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``, ``ca`` to a new
    :class:`DemoCA`; ``clock`` is what the pages measure "in 4 min" from."""
    config = config or RedtrustConfig.from_env()
    ca = ca if ca is not None else DemoCA()
    pages = ExamplePages(logout_path=config.logout_path, issue=ca.issue, clock=clock)
    return RedtrustWSGIMiddleware(
        ExampleApp(pages), config=config, manager=manager, store=store, protect=PROTECTED
    )


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state


def __getattr__(name: str) -> Any:
    """``app`` is built when the server loads it (``gunicorn examples.wsgi_app:app``), so a
    configuration problem stops the server with its message, and importing this module
    (for :func:`create_app`) needs no configuration."""
    if name != "app":
        raise AttributeError(name)
    built = globals()["app"] = create_app()
    return built
