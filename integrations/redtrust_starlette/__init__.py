"""Redtrust sign-in for Starlette (and FastAPI: see :mod:`redtrust_starlette.fastapi`).

::

    app = Starlette(routes=..., middleware=[
        Middleware(RedtrustMiddleware, config=RedtrustConfig.from_env()),
    ])

    @requires_redtrust
    async def certificates(request):
        request.state.redtrust.access_token   # fresh bearer for this user

Starlette's own ``request.user`` and ``requires()``: :mod:`redtrust_starlette.auth`.
"""

from importlib.util import find_spec

# Before the first Starlette import: an app without it gets one line naming the extra.
if find_spec("starlette") is None:
    raise ImportError(
        "redtrust_starlette needs Starlette, which is not installed: "
        'pip install "redtrust-middleware[starlette]" (or [fastapi])',
        name="starlette",
    )

from redtrust_middleware.web import RedtrustContext

from .auth import RedtrustAuthBackend, RedtrustUser
from .decorators import get_redtrust, requires_redtrust
from .middleware import RedtrustMiddleware
from .routes import redtrust_routes

__all__ = [
    "RedtrustAuthBackend",
    "RedtrustContext",
    "RedtrustMiddleware",
    "RedtrustUser",
    "get_redtrust",
    "redtrust_routes",
    "requires_redtrust",
]
