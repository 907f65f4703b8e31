"""``requires_redtrust``: protect Starlette endpoints, sync or async."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection
from starlette.responses import Response

from redtrust_middleware.asgi import (
    GATE_KEY,
    PROBLEM_KEY,
    SCOPE_KEY,
    full_path,
    request_from_scope,
)
from redtrust_middleware.web import Gate, RedtrustContext, WebResponse

__all__ = ["get_redtrust", "refusal", "requires_redtrust", "to_response"]

F = TypeVar("F", bound=Callable[..., Any])


def get_redtrust(conn: HTTPConnection) -> RedtrustContext | None:
    """The signed-in context of this request, or None."""
    return cast("RedtrustContext | None", conn.scope.get(SCOPE_KEY))


def to_response(answer: WebResponse) -> Response:
    """A Starlette response for a gate answer (repeated headers such as Set-Cookie kept)."""
    response = Response(content=answer.body, status_code=answer.status)
    for name, value in answer.headers:
        response.headers.append(name, value)
    return response


def refusal(conn: HTTPConnection) -> WebResponse | None:
    """What to answer instead of a protected endpoint, or None when signed in.

    A page navigation gets a 302 to the login route with ``next``; an API or fetch caller a
    401 JSON with ``login_url``; a signed-in user whose session cannot be read right now a
    clear 503.
    """
    scope = conn.scope
    if scope.get(SCOPE_KEY) is not None:
        return None
    if scope["type"] != "http":
        raise TypeError("requires_redtrust protects HTTP endpoints; websockets pass through")
    gate = scope.get(GATE_KEY)
    if not isinstance(gate, Gate):
        raise RuntimeError("RedtrustMiddleware is not installed on this app")
    return gate.refusal(request_from_scope(scope), full_path(scope), scope.get(PROBLEM_KEY))


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("requires_redtrust: the endpoint receives no request")


def _is_async(endpoint: Callable[..., Any]) -> bool:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    call = type(endpoint).__call__ if not inspect.isroutine(endpoint) else endpoint
    return inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(call)


def requires_redtrust(endpoint: F) -> F:
    """Let only signed-in users reach ``endpoint`` (functions or methods, sync or async)."""
    if _is_async(endpoint):

        @functools.wraps(endpoint)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            answer = refusal(_find_request(args, kwargs))
            if answer is not None:
                return to_response(answer)
            return await endpoint(*args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(endpoint)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        answer = refusal(_find_request(args, kwargs))
        if answer is not None:
            return to_response(answer)
        return endpoint(*args, **kwargs)

    return cast(F, sync_wrapper)
