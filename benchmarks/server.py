"""One benchmark variant as an app for uvicorn (``--factory benchmarks.server:create_app``).

Configured by environment variables:

* ``BENCH_VARIANT``: one of :data:`benchmarks.variants.VARIANTS`.
* ``BENCH_PORT``: the port uvicorn listens on (our ``public_url`` is ``http://127.0.0.1:PORT``,
  so the session cookie is ``redtrust_session``).
* ``BENCH_STATE``: a file written as JSON at startup (``{"cookie": ...}``: the Cookie header
  the load generator sends) and again at shutdown (adding ``requests`` served, and for our
  variants ``refresh_calls`` counted while serving).

The store's calls are not counted here: a counting wrapper around the store would be timed
with ours (about 3 µs a request over sockets) and with no other variant. The in-process run
counts them, on a manager of its own.

For the ``redtrust`` variants the signed-in session is created at lifespan startup (the
middleware passes lifespan messages to the app), through the in-process sandbox; the store
calls of that sign-in are not counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from benchmarks.variants import (
    OTHER_COOKIE,
    VARIANTS,
    RedtrustSetup,
    session_cookie,
    with_floor,
    with_session,
)

__all__ = ["create_app"]

_served = [0]


async def counted_home(request: Request) -> Response:
    """The benchmark endpoint, counting the requests it serves (the same in every variant)."""
    _served[0] += 1
    return PlainTextResponse("ok")


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def create_app() -> ASGIApp:
    """The app for ``BENCH_VARIANT``."""
    variant = os.environ["BENCH_VARIANT"]
    if variant not in VARIANTS:
        raise SystemExit(f"BENCH_VARIANT must be one of {', '.join(VARIANTS)}")
    port = int(os.environ["BENCH_PORT"])
    state_file = Path(os.environ["BENCH_STATE"])
    ours = RedtrustSetup(f"http://127.0.0.1:{port}") if variant.startswith("redtrust") else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cookie = OTHER_COOKIE
        if variant == "session":
            cookie = f"{OTHER_COOKIE}; {session_cookie()}"
        elif ours is not None:
            signed_in = await ours.sign_in()
            if variant == "redtrust":
                cookie = f"{OTHER_COOKIE}; {signed_in}"
        _served[0] = 0
        write_state(state_file, {"variant": variant, "cookie": cookie})
        try:
            yield
        finally:
            result: dict[str, Any] = {"variant": variant, "cookie": cookie, "requests": _served[0]}
            if ours is not None:
                result["refresh_calls"] = ours.refresh_calls()
                await ours.manager.aclose()
            write_state(state_file, result)

    app = Starlette(routes=[Route("/", counted_home)], lifespan=lifespan)
    if variant == "session":
        return with_session(app)
    if variant == "floor":
        return with_floor(app)
    if ours is not None:
        return ours.wrap(app)
    return app
