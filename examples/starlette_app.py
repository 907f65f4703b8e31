"""A Starlette app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 uvicorn examples.starlette_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, ``/certificates``
(request, list, renew and download certificates; the demo CA signs them), ``/account``
(protected by Starlette's own ``requires()``), sign-out by POST.
The pages themselves are :class:`~redtrust_middleware.cli.pages.ExamplePages`; this file only
wires them to Starlette.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from examples._shared import FromEnvironment
from redtrust_middleware import (
    AsyncSessionManager,
    InvalidInputError,
    RedtrustConfig,
    UpstreamError,
)
from redtrust_middleware.asgi import GATE_KEY, request_from_scope
from redtrust_middleware.cli.pages import (
    CERTIFICATES,
    DOWNLOAD,
    MAX_FORM_BYTES,
    RENEW,
    ExamplePages,
    page_headers,
    parse_form,
)
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_middleware.web import RedtrustContext, WebResponse
from redtrust_starlette import (
    RedtrustAuthBackend,
    RedtrustMiddleware,
    get_redtrust,
    redtrust_routes,
    requires_redtrust,
)
from redtrust_starlette.decorators import to_response


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, read with a size cap (no python-multipart needed)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "application/x-www-form-urlencoded"
    ):
        raise InvalidInputError("form", "must be application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidInputError("form", f"must be at most {MAX_FORM_BYTES} bytes")
    return parse_form(bytes(body))


def certificate_routes(pages: ExamplePages) -> list[BaseRoute]:
    """``/certificates`` (GET: form and list; POST: request one), ``/certificates/renew`` and
    ``/certificates/download`` (the user's certificate as PEM).

    Every POST answers a 303 back to the page with a notice (post/redirect/get), and each
    form submission is acted on once (a double click does not issue twice). Bad input is the
    form again (400) before anything is sent; Redtrust failing a clear 502/503 (and the form
    can be sent again).
    """

    async def posted(
        request: Request, act: Callable[[RedtrustContext, dict[str, str]], Awaitable[WebResponse]]
    ) -> Response:
        context = request.state.redtrust
        try:
            return to_response(await act(context, await read_form(request)))
        except InvalidInputError as error:  # not a form at all
            return to_response(pages.refused(context, error))
        except UpstreamError as error:  # the middleware's own clear 502/503
            gate = request.scope[GATE_KEY]
            return to_response(gate.unavailable(request_from_scope(request.scope), error))

    @requires_redtrust
    async def certificates(request: Request) -> Response:
        if request.method == "GET":
            return to_response(pages.certificates(request.state.redtrust, request.url.query))
        return await posted(request, pages.request_certificate)

    @requires_redtrust
    async def renew(request: Request) -> Response:
        return await posted(request, pages.renew_certificate)

    @requires_redtrust
    async def download(request: Request) -> Response:
        return to_response(pages.download(request.state.redtrust, request.url.query))

    return [
        Route(CERTIFICATES, certificates, methods=["GET", "POST"]),
        Route(RENEW, renew, methods=["POST"]),
        Route(DOWNLOAD, download, methods=["GET"]),
    ]


def account_routes(config: RedtrustConfig) -> list[BaseRoute]:
    """``/account``, protected by Starlette's own ``requires()`` (``request.user`` and
    ``request.auth`` come from :class:`RedtrustAuthBackend`), plus the library's routes by
    name, so that ``redirect="redtrust:login"`` finds the login route (the middleware still
    serves them: these only give ``url_for`` their names)."""

    @requires("authenticated", redirect="redtrust:login")
    async def account(request: Request) -> Response:
        user = request.user
        body = (
            f"<!doctype html><title>Account</title><p>Signed in as "
            f"<strong>{html.escape(user.display_name)}</strong>.</p>"
            f"<p>Scopes: {html.escape(' '.join(request.auth.scopes))}</p>"
        )
        return HTMLResponse(body, headers=page_headers(user.context))

    return [Route("/account", account), *redtrust_routes(config)]


def example_pages(
    config: RedtrustConfig, ca: DemoCA | None, clock: Callable[[], float] = time.time
) -> ExamplePages:
    """The example's pages for ``config``; ``ca`` defaults to a new :class:`DemoCA`."""
    ca = ca if ca is not None else DemoCA()
    return ExamplePages(logout_path=config.logout_path, issue=ca.issue, clock=clock)


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: AsyncSessionManager | None = None,
    ca: DemoCA | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``, ``ca`` to a new
    :class:`DemoCA` (the partner's CA that signs the certificates); ``clock`` (UNIX seconds,
    ``time.time`` by default) is what the pages measure "in 4 min" from."""
    config = config or RedtrustConfig.from_env()
    pages = example_pages(config, ca, clock)

    async def home(request: Request) -> Response:
        return to_response(pages.home(get_redtrust(request), request.url.query))

    @requires_redtrust
    async def me(request: Request) -> Response:
        return to_response(pages.me(request.state.redtrust))

    @requires_redtrust
    def api_me(request: Request) -> Response:  # a sync endpoint works the same
        return to_response(pages.api_me(request.state.redtrust))

    return Starlette(
        routes=[
            Route("/", home),
            Route("/me", me),
            Route("/api/me", api_me),
            *certificate_routes(pages),
            *account_routes(config),
        ],
        middleware=[
            # First (outermost): it loads the session that RedtrustAuthBackend reads.
            Middleware(RedtrustMiddleware, config=config, manager=manager),
            Middleware(AuthenticationMiddleware, backend=RedtrustAuthBackend()),
        ],
    )


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state
app = FromEnvironment(create_app)
