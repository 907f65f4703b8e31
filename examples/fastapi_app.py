"""A FastAPI app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 uvicorn examples.fastapi_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, ``/certificates``
(the Starlette example's page, mounted as is), sign-out by POST.
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse

from examples._shared import FromEnvironment
from examples.starlette_app import certificate_routes
from redtrust_middleware import AsyncSessionManager, RedtrustConfig
from redtrust_middleware.cli.pages import describe, home_body, me_body, page, page_headers
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_starlette import RedtrustMiddleware
from redtrust_starlette.fastapi import OptionalRedtrustSession, RedtrustSession


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: AsyncSessionManager | None = None,
    ca: DemoCA | None = None,
) -> FastAPI:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``, ``ca`` to a new
    :class:`DemoCA`."""
    config = config or RedtrustConfig.from_env()
    logout = config.logout_path
    app = FastAPI(title="Redtrust example")
    app.add_middleware(RedtrustMiddleware, config=config, manager=manager)
    # Plain Starlette endpoints (protected by requires_redtrust) work in FastAPI as they are.
    app.router.routes.extend(certificate_routes(logout, ca if ca is not None else DemoCA()))

    @app.get("/", response_class=HTMLResponse)
    async def home(session: OptionalRedtrustSession) -> HTMLResponse:
        text = home_body(session)
        return HTMLResponse(
            page("Redtrust example", text, logout_path=logout, context=session),
            headers=page_headers(session),
        )

    @app.get("/me", response_class=HTMLResponse)
    async def me(session: RedtrustSession) -> HTMLResponse:
        return HTMLResponse(
            page("Me", me_body(session), logout_path=logout, context=session),
            headers=page_headers(session),
        )

    @app.get("/api/me")
    def api_me(session: RedtrustSession, response: Response) -> dict[str, str | None]:
        # A sync endpoint works the same.
        response.headers.update(page_headers(session))
        return describe(session)

    return app


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state
app = FromEnvironment(create_app)
