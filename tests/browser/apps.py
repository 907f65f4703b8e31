"""The Starlette, FastAPI, Flask and bare WSGI examples as the browser suite serves them::

    REDTRUST_*=... uvicorn tests.browser.apps:starlette   (or :fastapi)
    REDTRUST_*=... gunicorn 'tests.browser.apps:flask_site()'   (or 'wsgi_site()')

Each is the example's ``create_app`` with ``RedtrustConfig.from_env()``, built on the first
request (Flask's reads the same variables through ``app.config``, when gunicorn loads it),
plus what the suite varies and the examples do not read from the environment:
``REDTRUST_REFRESH_LEEWAY`` (seconds, so that a refresh comes soon after a sign-in) and
``BROWSER_REFERRER_POLICY`` (a ``Referrer-Policy`` on every page that sets none, as a host site
with a strict policy sends; Django's ``SECURE_REFERRER_POLICY`` does the same).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from examples import fastapi_app, flask_app, starlette_app, wsgi_app
from examples._shared import FromEnvironment
from flask import Flask, Response

from redtrust_middleware import RedtrustConfig
from redtrust_middleware.asgi import ASGIApp, Message, Receive, Scope, Send


class ReferrerPolicy:
    """Adds ``Referrer-Policy: policy`` to every HTTP response that has none."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self._app = app
        self._policy = policy.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"referrer-policy" for name, _ in headers):
                    headers.append((b"referrer-policy", self._policy))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, with_policy if scope["type"] == "http" else send)


def _config() -> RedtrustConfig:
    """The example's configuration, with the suite's ``REDTRUST_REFRESH_LEEWAY``."""
    leeway = os.environ.get("REDTRUST_REFRESH_LEEWAY")
    if leeway:
        return RedtrustConfig.from_env(refresh_leeway=float(leeway))
    return RedtrustConfig.from_env()


def _build(create_app: Callable[[RedtrustConfig], ASGIApp]) -> Callable[[], ASGIApp]:
    def build() -> ASGIApp:
        app = create_app(_config())
        policy = os.environ.get("BROWSER_REFERRER_POLICY")
        return ReferrerPolicy(app, policy) if policy else app

    return build


starlette = FromEnvironment(_build(starlette_app.create_app))
fastapi = FromEnvironment(_build(fastapi_app.create_app))


def flask_site() -> Flask:
    """The Flask example, with ``BROWSER_REFERRER_POLICY`` on every response that has none."""
    app = flask_app.create_app()  # REDTRUST_REFRESH_LEEWAY too, through app.config
    policy = os.environ.get("BROWSER_REFERRER_POLICY")
    if policy:

        @app.after_request
        def with_policy(response: Response) -> Response:
            response.headers.setdefault("Referrer-Policy", policy)
            return response

    return app


def wsgi_site() -> WSGIApplication:
    """The bare WSGI example, with ``BROWSER_REFERRER_POLICY`` on every response that has
    none."""
    app = wsgi_app.create_app(_config())
    policy = os.environ.get("BROWSER_REFERRER_POLICY")
    if not policy:
        return app

    def with_policy(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if not any(name.lower() == "referrer-policy" for name, _ in headers):
                headers = [*headers, ("Referrer-Policy", policy)]
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return with_policy
