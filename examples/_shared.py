"""What the example apps share beyond the demo's pages (:mod:`redtrust_middleware.cli.pages`):
lazy start-up."""

from __future__ import annotations

from collections.abc import Callable

from redtrust_middleware import ConfigurationError
from redtrust_middleware.asgi import ASGIApp, Receive, Scope, Send, refuse_startup


class FromEnvironment:
    """An ASGI app built on first use, so importing an example needs no configuration.

    The first use is the server's lifespan startup: a configuration error then fails it with
    the error's message (naming the environment variable), so the server does not start.
    """

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            try:
                self._app = self._factory()
            except ConfigurationError as error:
                if scope["type"] != "lifespan":
                    raise
                await refuse_startup(error, receive, send)
                return
        await self._app(scope, receive, send)
