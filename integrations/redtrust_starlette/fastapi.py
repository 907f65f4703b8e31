"""FastAPI dependencies: ``RedtrustSession`` (required) and ``OptionalRedtrustSession``.

::

    @app.get("/api/me")
    async def me(session: RedtrustSession) -> dict[str, str | None]:
        return {"user": session.subject}
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from redtrust_middleware.web import RedtrustContext

from .decorators import get_redtrust, refusal

__all__ = [
    "OptionalRedtrustSession",
    "RedtrustSession",
    "optional_redtrust",
    "require_redtrust",
]


def require_redtrust(request: Request) -> RedtrustContext:
    """The signed-in context; otherwise a redirect to login, a 401 or a 503."""
    answer = refusal(request)
    if answer is not None:
        detail = json.loads(answer.body) if answer.body.startswith(b"{") else None
        headers = {k: v for k, v in answer.headers if k != "content-type"}
        raise HTTPException(status_code=answer.status, detail=detail, headers=headers)
    context = get_redtrust(request)
    if context is None:  # pragma: no cover - refusal() answered already
        raise HTTPException(status_code=401)
    return context


def optional_redtrust(request: Request) -> RedtrustContext | None:
    """The signed-in context, or None."""
    return get_redtrust(request)


RedtrustSession = Annotated[RedtrustContext, Depends(require_redtrust)]
OptionalRedtrustSession = Annotated[RedtrustContext | None, Depends(optional_redtrust)]
