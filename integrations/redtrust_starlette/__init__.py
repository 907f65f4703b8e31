"""Redtrust sign-in for Starlette (and FastAPI: see :mod:`redtrust_starlette.fastapi`).

::

    app = Starlette(routes=..., middleware=[
        Middleware(RedtrustMiddleware, config=RedtrustConfig.from_env()),
    ])

    @requires_redtrust
    async def certificates(request):
        request.state.redtrust.access_token   # fresh bearer for this user
"""

from redtrust_middleware.web import RedtrustContext

from .decorators import get_redtrust, requires_redtrust
from .middleware import RedtrustMiddleware
from .routes import redtrust_routes

__all__ = [
    "RedtrustContext",
    "RedtrustMiddleware",
    "get_redtrust",
    "redtrust_routes",
    "requires_redtrust",
]
