"""A Starlette app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 uvicorn --no-access-log examples.starlette_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, sign-out by POST.
"""

from __future__ import annotations

import html

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from examples._shared import FromEnvironment, describe, me_body, page
from redtrust_middleware import AsyncSessionManager, RedtrustConfig
from redtrust_starlette import RedtrustMiddleware, get_redtrust, requires_redtrust


def create_app(
    config: RedtrustConfig | None = None, *, manager: AsyncSessionManager | None = None
) -> Starlette:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``."""
    config = config or RedtrustConfig.from_env()
    logout = config.logout_path

    async def home(request: Request) -> HTMLResponse:
        context = get_redtrust(request)
        text = (
            f"<p>Hello {html.escape(context.subject or '?')}. <a href='/me'>Your session</a>.</p>"
            if context
            else "<p>This page is public. <a href='/me'>/me</a> needs a sign-in.</p>"
        )
        return HTMLResponse(
            page("Redtrust example", text, logout_path=logout, signed_in=context is not None)
        )

    @requires_redtrust
    async def me(request: Request) -> HTMLResponse:
        context = request.state.redtrust
        return HTMLResponse(page("Me", me_body(context), logout_path=logout, signed_in=True))

    @requires_redtrust
    def api_me(request: Request) -> JSONResponse:  # a sync endpoint works the same
        return JSONResponse(describe(request.state.redtrust))

    return Starlette(
        routes=[Route("/", home), Route("/me", me), Route("/api/me", api_me)],
        middleware=[Middleware(RedtrustMiddleware, config=config, manager=manager)],
    )


app = FromEnvironment(create_app)
