"""A small OAuth2 authorization server for the Authlib refresh storm (``bench_storm``).

It rotates refresh tokens as Redtrust does: a refresh token is good for one refresh grant, and
presenting it again is refused with ``invalid_grant``. It counts every refresh grant it
receives, accepted or refused, and serves ``GET /userinfo`` to holders of a live access token
(the protected resource the app calls with its token).

Grants (``POST /token``, form-encoded, client credentials in the body):

* ``authorization_code`` with the one code :data:`SIGN_IN_CODE`: the sign-in; the access
  token lives ``first_access_ttl`` seconds, shorter than Authlib's 60 s leeway, so it is due
  for refresh at once;
* ``refresh_token``: a new access token (``access_ttl``) and a new refresh token, the
  presented one spent.

Served by uvicorn in a background thread of the benchmark (:func:`serving`); the counts are
read from :class:`TokenServer` directly.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "SIGN_IN_CODE", "TokenServer", "serving"]

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret-0123456789abcdef"
SIGN_IN_CODE = "bench-sign-in-code"


@dataclass
class TokenServer:
    """The server's state and its ASGI app (``await server(scope, receive, send)``)."""

    first_access_ttl: int = 30
    access_ttl: int = 3600
    refresh_grants: int = 0  # every refresh grant received
    refreshes_accepted: int = 0
    refreshes_refused: int = 0  # a spent or unknown refresh token
    userinfo_calls: int = 0
    _live_refresh: set[str] = field(default_factory=set)
    _live_access: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _issue(self, ttl: int) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._live_access.add(access)
        self._live_refresh.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
        }

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one ``POST /token``: (status, JSON body)."""
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        with self._lock:
            kind = form.get("grant_type")
            if kind == "authorization_code" and form.get("code") == SIGN_IN_CODE:
                return 200, self._issue(self.first_access_ttl)
            if kind == "refresh_token":
                self.refresh_grants += 1
                token = form.get("refresh_token", "")
                if token in self._live_refresh:
                    self._live_refresh.discard(token)  # rotated: good for one grant only
                    self.refreshes_accepted += 1
                    return 200, self._issue(self.access_ttl)
                self.refreshes_refused += 1
            return 400, {"error": "invalid_grant"}

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        """Answer one ``GET /userinfo``: the user for a live bearer token."""
        with self._lock:
            self.userinfo_calls += 1
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token in self._live_access:
                return 200, {"sub": "alice"}
        return 401, {"error": "invalid_token"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] == "POST" and scope["path"] == "/token":
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
            status, answer = self.grant(form)
        elif scope["method"] == "GET" and scope["path"] == "/userinfo":
            status, answer = self.userinfo(headers.get("authorization", ""))
        else:
            status, answer = 404, {"error": "not_found"}
        payload = json.dumps(answer).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@contextlib.contextmanager
def serving(server: TokenServer, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``server`` with uvicorn on a free loopback port in a thread; yield its URL."""
    import uvicorn

    from redtrust_middleware.sandbox.server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server,
        host="127.0.0.1",
        port=port,
        http="h11",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(
        target=uv.run, kwargs={"sockets": [sock]}, name="bench-oauth", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not uv.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OAuth2 token server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()
