"""A FastAPI app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 uvicorn examples.fastapi_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, ``/certificates``
and ``/account`` (the Starlette example's routes, mounted as they are), sign-out by POST.
``/openapi.json`` (and ``/docs``) list the ``redtrust`` cookie scheme that ``/me`` and
``/api/me`` require, and the library's routes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from starlette.middleware.authentication import AuthenticationMiddleware

from examples._shared import FromEnvironment
from examples.starlette_app import account_routes, certificate_routes, example_pages
from redtrust_middleware import AsyncSessionManager, RedtrustConfig
from redtrust_middleware.cli.pages import describe, page_headers
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_starlette import RedtrustAuthBackend, RedtrustMiddleware
from redtrust_starlette.decorators import to_response
from redtrust_starlette.fastapi import (
    OptionalRedtrustSession,
    RedtrustSession,
    document_redtrust,
)


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: AsyncSessionManager | None = None,
    ca: DemoCA | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app; ``config`` defaults to ``RedtrustConfig.from_env()``, ``ca`` to a new
    :class:`DemoCA`; ``clock`` is what the pages measure "in 4 min" from."""
    config = config or RedtrustConfig.from_env()
    pages = example_pages(config, ca, clock)
    app = FastAPI(title="Redtrust example")
    # add_middleware puts each one outside the ones before: Redtrust's runs first.
    app.add_middleware(AuthenticationMiddleware, backend=RedtrustAuthBackend())
    app.add_middleware(RedtrustMiddleware, config=config, manager=manager)
    # Plain Starlette endpoints (requires_redtrust, requires) work in FastAPI as they are.
    app.router.routes.extend([*certificate_routes(pages), *account_routes(config)])

    @app.get("/", response_class=Response)
    async def home(session: OptionalRedtrustSession, request: Request) -> Response:
        return to_response(pages.home(session, request.url.query))

    @app.get("/me", response_class=Response)
    async def me(session: RedtrustSession) -> Response:
        return to_response(pages.me(session))

    @app.get("/api/me")
    def api_me(session: RedtrustSession, response: Response) -> dict[str, str | None]:
        # A sync endpoint works the same; FastAPI writes the JSON (and documents it).
        response.headers.update(page_headers(session))
        return describe(session)

    return document_redtrust(app, config)


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state
app = FromEnvironment(create_app)
