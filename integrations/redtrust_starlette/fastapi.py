"""FastAPI dependencies: ``RedtrustSession`` (required) and ``OptionalRedtrustSession``.

::

    @app.get("/api/me")
    async def me(session: RedtrustSession) -> dict[str, str | None]:
        return {"user": session.subject}
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Annotated

if find_spec("fastapi") is None:  # one line naming the extra, before the import fails
    raise ImportError(
        "redtrust_starlette.fastapi needs FastAPI, which is not installed: "
        'pip install "redtrust-middleware[fastapi]"',
        name="fastapi",
    )

from fastapi import Depends, Request

from redtrust_middleware.asgi import Refusal
from redtrust_middleware.web import RedtrustContext, WebResponse

from .decorators import get_redtrust, refusal

__all__ = [
    "OptionalRedtrustSession",
    "RedtrustSession",
    "optional_redtrust",
    "require_redtrust",
]


async def require_redtrust(request: Request) -> RedtrustContext:
    """The signed-in context; otherwise a redirect to login, a 401 JSON or a 503.

    Those answers are sent by the middleware (as HTML for page navigations), not by FastAPI's
    JSON error handler.
    """
    answer = refusal(request)
    if answer is not None:
        raise Refusal(answer)
    context = get_redtrust(request)
    if context is None:  # pragma: no cover - refusal() answered already
        raise Refusal(WebResponse(status=401, headers=()))
    return context


async def optional_redtrust(request: Request) -> RedtrustContext | None:
    """The signed-in context, or None."""
    return get_redtrust(request)


RedtrustSession = Annotated[RedtrustContext, Depends(require_redtrust)]
OptionalRedtrustSession = Annotated[RedtrustContext | None, Depends(optional_redtrust)]
