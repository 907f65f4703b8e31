"""Authlib's usual Starlette setup, for the refresh storm (``--factory
benchmarks.authlib_app:create_app`` under uvicorn; ``BENCH_OAUTH_URL`` names the server of
:mod:`benchmarks.oauth_server`).

The token lives in Starlette's ``SessionMiddleware`` cookie; each request builds an
``AsyncOAuth2Client`` from it, with ``update_token`` saving a refreshed token back into the
session, and calls the protected resource (``/userinfo``) through it, so Authlib refreshes the
token when it is due. A refresh the server refuses (a refresh token another request already
spent) or a resource call that fails answers 401: the user is signed out.

* ``GET /callback``: the sign-in; exchanges the server's code for the first token.
* ``GET /api/me``: the protected JSON endpoint the storm requests.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from benchmarks.oauth_server import CLIENT_ID, CLIENT_SECRET, SIGN_IN_CODE
from benchmarks.variants import SESSION_SECRET

__all__ = ["create_app"]


def create_app() -> Starlette:
    """The app, against the OAuth2 server at ``BENCH_OAUTH_URL``."""
    server = os.environ["BENCH_OAUTH_URL"]
    token_url, userinfo_url = f"{server}/token", f"{server}/userinfo"
    # One TLS context for every client (building one per client loads the CA bundle each time).
    tls = ssl.create_default_context()

    def client(request: Request) -> AsyncOAuth2Client:
        async def update_token(token: dict[str, Any], **_: Any) -> None:
            request.session["token"] = dict(token)

        return AsyncOAuth2Client(
            CLIENT_ID,
            CLIENT_SECRET,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            token=request.session.get("token"),
            token_endpoint=token_url,
            update_token=update_token,
            timeout=30,
            verify=tls,
        )

    async def callback(request: Request) -> Response:
        async with client(request) as oauth:
            token = await oauth.fetch_token(
                token_url, grant_type="authorization_code", code=SIGN_IN_CODE
            )
        request.session["token"] = dict(token)
        return PlainTextResponse("signed in")

    async def api_me(request: Request) -> Response:
        if "token" not in request.session:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        try:
            async with client(request) as oauth:
                answer = await oauth.get(userinfo_url)
        except AuthlibBaseError as error:  # the refresh was refused: signed out
            request.session.pop("token", None)
            return JSONResponse({"error": error.error}, status_code=401)
        except httpx2.HTTPError as error:  # the server could not be reached in time
            return JSONResponse({"error": type(error).__name__}, status_code=502)
        if answer.status_code != 200:
            return JSONResponse({"error": "resource refused"}, status_code=401)
        return JSONResponse({"user": answer.json()["sub"]})

    return Starlette(
        routes=[Route("/callback", callback), Route("/api/me", api_me)],
        middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET)],
    )
