"""A Starlette app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 uvicorn examples.starlette_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, ``/certificates``
(request, list and renew certificates; the demo CA signs them), sign-out by POST.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
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
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_starlette import RedtrustMiddleware, get_redtrust, requires_redtrust
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


def certificate_routes(
    logout: str, ca: DemoCA, book: CertificateBook | None = None
) -> list[BaseRoute]:
    """``/certificates`` (GET: form and list; POST: request one) and ``/certificates/renew``.

    Every POST answers a 303 back to the page (post/redirect/get), and each form submission
    is acted on once (a double click does not issue twice). Bad input is a 400 page, before
    anything is sent; Redtrust failing a clear 502/503 (and the form can be sent again).
    """
    book = book if book is not None else CertificateBook()

    def bad(request: Request, error: InvalidInputError) -> HTMLResponse:
        body = error_body(error, CERTIFICATES)
        context = request.state.redtrust
        return HTMLResponse(
            page("Certificates", body, logout_path=logout, context=context),
            status_code=400,
            headers=page_headers(context),
        )

    def unavailable(request: Request, error: UpstreamError) -> Response:
        """Redtrust failing: the middleware's own clear 502/503 (as Django's answers)."""
        gate = request.scope[GATE_KEY]
        return to_response(gate.unavailable(request_from_scope(request.scope), error))

    @requires_redtrust
    async def certificates(request: Request) -> Response:
        context = request.state.redtrust
        if request.method == "GET":
            body = certificates_body(
                book.certificates(user_key(context)), action=CERTIFICATES, renew_action=RENEW
            )
            return HTMLResponse(
                page("Certificates", body, logout_path=logout, context=context),
                headers=page_headers(context),
            )
        try:
            await request_certificate(book, context, await read_form(request), ca.issue)
        except InvalidInputError as error:
            return bad(request, error)
        except UpstreamError as error:
            return unavailable(request, error)
        return RedirectResponse(CERTIFICATES, status_code=303)

    @requires_redtrust
    async def renew(request: Request) -> Response:
        try:
            form = await read_form(request)
            await renew_certificate(book, request.state.redtrust, form, ca.issue)
        except InvalidInputError as error:
            return bad(request, error)
        except UpstreamError as error:
            return unavailable(request, error)
        return RedirectResponse(CERTIFICATES, status_code=303)

    return [
        Route(CERTIFICATES, certificates, methods=["GET", "POST"]),
        Route(RENEW, renew, methods=["POST"]),
    ]


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: AsyncSessionManager | None = None,
    ca: DemoCA | None = None,
) -> Starlette:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``, ``ca`` to a new
    :class:`DemoCA` (the partner's CA that signs the certificates)."""
    config = config or RedtrustConfig.from_env()
    logout = config.logout_path
    ca = ca if ca is not None else DemoCA()

    async def home(request: Request) -> HTMLResponse:
        context = get_redtrust(request)
        text = home_body(context)
        return HTMLResponse(
            page("Redtrust example", text, logout_path=logout, context=context),
            headers=page_headers(context),
        )

    @requires_redtrust
    async def me(request: Request) -> HTMLResponse:
        context = request.state.redtrust
        return HTMLResponse(
            page("Me", me_body(context), logout_path=logout, context=context),
            headers=page_headers(context),
        )

    @requires_redtrust
    def api_me(request: Request) -> JSONResponse:  # a sync endpoint works the same
        context = request.state.redtrust
        return JSONResponse(describe(context), headers=page_headers(context))

    return Starlette(
        routes=[
            Route("/", home),
            Route("/me", me),
            Route("/api/me", api_me),
            *certificate_routes(logout, ca),
        ],
        middleware=[Middleware(RedtrustMiddleware, config=config, manager=manager)],
    )


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state
app = FromEnvironment(create_app)
