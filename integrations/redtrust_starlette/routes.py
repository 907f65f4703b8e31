"""The library's routes as Starlette ``Route`` objects, for apps that mount them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redtrust_middleware.asgi import GATE_KEY, MANAGER_KEY, read_route_request
from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.session import AsyncSessionManager
from redtrust_middleware.web import Gate

from .decorators import to_response

__all__ = ["redtrust_routes"]


async def _serve(request: Request) -> Response:
    gate, manager = request.scope.get(GATE_KEY), request.scope.get(MANAGER_KEY)
    if not isinstance(gate, Gate):
        raise RuntimeError("RedtrustMiddleware(serve_routes=False) must wrap the app")
    if not isinstance(manager, AsyncSessionManager):  # published on the library's paths only
        raise RuntimeError(
            f"{request.scope['path']} is not one of the library's paths as the middleware sees "
            f"them ({', '.join(gate.routes)}): mount redtrust_routes() at the app's root"
        )
    neutral = await read_route_request(gate, request.scope, request.receive)
    return to_response(await gate.aserve(manager, neutral))


def redtrust_routes(config: RedtrustConfig) -> list[Route]:
    """Routes for ``config``'s login, callback and logout paths.

    Add them to the app's routes and install ``RedtrustMiddleware(serve_routes=False)``: the
    middleware still loads sessions, the routes answer the library's paths.
    """
    return [
        Route(config.login_path, _serve, methods=["GET", "HEAD"], name="redtrust:login"),
        Route(config.callback_path, _serve, methods=["GET", "HEAD"], name="redtrust:callback"),
        Route(config.logout_path, _serve, methods=["GET", "HEAD", "POST"], name="redtrust:logout"),
    ]
