"""FastAPI dependencies: ``RedtrustSession`` (required) and ``OptionalRedtrustSession``.

::

    @app.get("/api/me")
    async def me(session: RedtrustSession) -> dict[str, str | None]:
        return {"user": session.subject}

    document_redtrust(app, config)  # the cookie scheme, the 401s, the library's routes

``RedtrustSession`` is a security scheme: each operation that uses it lists the ``redtrust``
cookie scheme in its ``security`` in ``app.openapi()``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Annotated, Any

if find_spec("fastapi") is None:  # one line naming the extra, before the import fails
    raise ImportError(
        "redtrust_starlette.fastapi needs FastAPI, which is not installed: "
        'pip install "redtrust-middleware[fastapi]"',
        name="fastapi",
    )

from fastapi import Depends, FastAPI, Request, Security
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security.base import SecurityBase

from redtrust_middleware.asgi import Refusal
from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.web import RedtrustContext, WebResponse

from ._openapi import SCHEME_NAME, add_to_schema, cookie_scheme
from .decorators import get_redtrust, refusal

__all__ = [
    "OptionalRedtrustSession",
    "RedtrustCookie",
    "RedtrustSession",
    "document_redtrust",
    "optional_redtrust",
    "redtrust_cookie",
    "require_redtrust",
]


class RedtrustCookie(SecurityBase):
    """The Redtrust session cookie as a FastAPI security scheme (``apiKey`` in a cookie).

    Calling it gives the signed-in context, or answers for the endpoint: a redirect to
    login, a 401 JSON or a 503, sent by the middleware (as HTML for page navigations), not
    by FastAPI's JSON error handler. The cookie's name in the schema is the plain-http one
    until :func:`document_redtrust` puts the app's own (``__Host-`` on https).
    """

    def __init__(self) -> None:
        scheme = cookie_scheme("redtrust_session")
        self.model = APIKey.model_validate(
            {"in": APIKeyIn.cookie, "name": scheme["name"], "description": scheme["description"]}
        )
        self.scheme_name = SCHEME_NAME

    async def __call__(self, request: Request) -> RedtrustContext:
        answer = refusal(request)
        if answer is not None:
            raise Refusal(answer)
        context = get_redtrust(request)
        if context is None:  # pragma: no cover - refusal() answered already
            raise Refusal(WebResponse(status=401, headers=()))
        return context


#: The scheme ``RedtrustSession`` uses.
redtrust_cookie = RedtrustCookie()


async def require_redtrust(request: Request) -> RedtrustContext:
    """The signed-in context; otherwise a redirect to login, a 401 JSON or a 503 (as
    ``RedtrustSession``, but not documented as a security scheme)."""
    return await redtrust_cookie(request)


async def optional_redtrust(request: Request) -> RedtrustContext | None:
    """The signed-in context, or None."""
    return get_redtrust(request)


RedtrustSession = Annotated[RedtrustContext, Security(redtrust_cookie)]
OptionalRedtrustSession = Annotated[RedtrustContext | None, Depends(optional_redtrust)]


def document_redtrust(app: FastAPI, config: RedtrustConfig) -> FastAPI:
    """Complete ``app.openapi()`` for a Redtrust sign-in and return ``app``.

    The ``redtrust`` cookie scheme names the app's real session cookie (from ``config``'s
    ``public_url``); each operation that uses ``RedtrustSession`` documents its 401 and 503;
    the library's login, callback and logout routes, which the middleware serves before
    FastAPI sees them, are listed under the ``redtrust`` tag. Call it once, where the app is
    built (before the schema is first generated).
    """
    add_to_schema({}, config)  # a bad config fails here, where the app is built
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return add_to_schema(generate(), config)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
