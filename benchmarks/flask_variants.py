"""The Flask apps under test, shared by the in-process run and gunicorn (``bench_flask``).

Three variants of one view (``GET /`` answering ``ok``):

* ``bare``: the view alone.
* ``session``: the view reads Flask's own signed-cookie session (``flask.session``), with a
  realistic signed-in cookie (a user id, name and CSRF token, as Flask itself signs it).
* ``redtrust``: the extension on the app, the view reading ``current_redtrust`` of a
  signed-in session whose access token is fresh (no refresh during the run).

Every request carries the same other headers, including an unrelated ``theme`` cookie.
For gunicorn (``benchmarks.flask_variants:from_environment()``): ``BENCH_VARIANT``,
``BENCH_PORT`` (``public_url`` is ``http://127.0.0.1:PORT``) and ``BENCH_STATE`` (a JSON file
written once the app is ready: ``{"cookie": ...}``, the Cookie header to send).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.test import Client as WerkzeugClient

from redtrust_flask import Redtrust, current_redtrust
from redtrust_middleware import Client, MemoryStore, SessionManager
from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS, make_config

__all__ = ["OTHER_COOKIE", "VARIANTS", "build", "from_environment"]

VARIANTS = ("bare", "session", "redtrust")
OTHER_COOKIE = "theme=dark"
SECRET_KEY = "benchmark-flask-secret-0123456789abcdef"
#: A long-lived access token: the run never needs a refresh.
ACCESS_TOKEN_TTL = 3600


def _bare() -> Flask:
    app = Flask("bench_bare")

    @app.get("/")
    def home() -> str:
        return "ok"

    return app


def _session() -> tuple[Flask, str]:
    app = Flask("bench_session")
    app.secret_key = SECRET_KEY

    @app.get("/")
    def home() -> str:
        return "ok" if session.get("user_id") else "who?"

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    data = {"user_id": 42, "username": "alice", "csrf": "x" * 32}
    return app, f"session={serializer.dumps(data)}"


def _redtrust(public_url: str) -> tuple[Flask, str]:
    """The app with the extension, signed in once through the in-process sandbox."""
    sandbox = Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(public_url + "/",),
            access_token_ttl=ACCESS_TOKEN_TTL,
        )
    )
    config = make_config(public_url=public_url)
    client = Client(config, transport=sandbox.transport())
    manager = SessionManager(config, store=MemoryStore(), client=client)
    app = Flask("bench_redtrust")
    Redtrust(app, config=config, manager=manager)

    @app.get("/")
    def home() -> str:
        return "ok" if current_redtrust.subject else "who?"

    browser = WerkzeugClient(app)
    start = browser.get(config.login_path, base_url=public_url)
    callback = sandbox.sign_in(start.headers["Location"], "alice", TEST_USERS["alice"])
    done = browser.get(callback.removeprefix(public_url), base_url=public_url)
    assert done.status_code == 303, done.get_data(as_text=True)
    name = "__Host-redtrust_session" if public_url.startswith("https") else "redtrust_session"
    cookie = browser.get_cookie(name, domain=public_url.split("//")[1].split(":")[0])
    assert cookie is not None
    return app, f"{name}={cookie.value}"


def build(variant: str, public_url: str = "https://app.test") -> tuple[Flask, str]:
    """The app of ``variant`` and the Cookie header its requests carry."""
    if variant == "bare":
        return _bare(), OTHER_COOKIE
    if variant == "session":
        app, cookie = _session()
    elif variant == "redtrust":
        app, cookie = _redtrust(public_url)
    else:
        raise SystemExit(f"the variant must be one of {', '.join(VARIANTS)}")
    return app, f"{OTHER_COOKIE}; {cookie}"


def from_environment() -> Flask:
    """The app for gunicorn, from ``BENCH_VARIANT``, ``BENCH_PORT`` and ``BENCH_STATE``."""
    variant = os.environ["BENCH_VARIANT"]
    app, cookie = build(variant, f"http://127.0.0.1:{os.environ['BENCH_PORT']}")
    state = Path(os.environ["BENCH_STATE"])
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"variant": variant, "cookie": cookie}))
    tmp.replace(state)
    return app
