"""The Starlette face of the generic ASGI middleware: it also fills ``request.state``."""

from __future__ import annotations

from redtrust_middleware.asgi import RedtrustASGIMiddleware

__all__ = ["RedtrustMiddleware"]


class RedtrustMiddleware(RedtrustASGIMiddleware):
    """Redtrust sign-in for a Starlette app: ``request.state.redtrust`` is the context.

    Takes the keyword arguments of
    :class:`redtrust_middleware.asgi.RedtrustASGIMiddleware` (``config``, ``store``,
    ``protect``, ``api_prefixes``, ...). Use with ``Middleware(RedtrustMiddleware, ...)`` or
    ``app.add_middleware(RedtrustMiddleware, ...)``.
    """

    fill_state = True
