"""What the example apps share beyond the demo's pages (:mod:`redtrust_middleware.cli.pages`):
lazy start-up."""

from __future__ import annotations

from collections.abc import Callable

from redtrust_middleware.asgi import ASGIApp, Receive, Scope, Send


class FromEnvironment:
    """An ASGI app built on first use, so importing an example needs no configuration."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)
