"""Sign a Flask test client in through the in-process sandbox (no socket, no browser).

::

    sandbox = make_sandbox()
    config = make_config()      # public_url https://app.test, the sandbox's partner
    app = create_app(config, manager=SessionManager(
        config, client=Client(config, transport=sandbox.transport())))
    app.config.update(TESTING=True, SERVER_NAME="app.test", PREFERRED_URL_SCHEME="https")
    client = app.test_client()
    sign_in(client, sandbox, "alice")
    assert client.get("/me").status_code == 200
    sign_out(client)

The steps are the core's (:mod:`redtrust_middleware.testing`), shared with the ASGI and Django
helpers of the same names.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    _check_signed_in,
    _login_location,
    _origin,
    sandbox_callback,
)

from .extension import state

__all__ = ["sign_in", "sign_out"]


def _config(client: FlaskClient) -> RedtrustConfig:
    """The app's config, once the client is known to send its requests to ``public_url``."""
    app = client.application
    config = state(app).config
    public = urlsplit(config.public_url or "")
    host = app.config.get("SERVER_NAME") or "localhost"
    scheme = app.config.get("PREFERRED_URL_SCHEME", "http")
    if (scheme, host) != (public.scheme, public.netloc):
        raise RuntimeError(
            f"the test client sends its requests to {scheme}://{host}, but the session cookie "
            f"belongs to public_url {config.public_url}: set app.config.update("
            f"SERVER_NAME={public.netloc!r}, PREFERRED_URL_SCHEME={public.scheme!r})"
        )
    return config


def sign_in(
    client: FlaskClient,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
) -> TestResponse:
    """Sign ``client`` in as ``username`` (password: the sandbox's for that user by default);
    the callback's answer (a 303 to ``next_url``). The session cookie is then in the client.

    Raises:
        RuntimeError: the client's requests do not go to ``public_url`` (where the session
            cookie lives), with the ``app.config`` lines that fix it.
        AssertionError: the sign-in did not go through (the answer's status and text).
        ValueError: the sandbox has no such user, or refused the credentials.
    """
    config = _config(client)
    start = client.get(config.login_path, query_string={"next": next_url})
    location = start.headers.get("Location")
    login_url = _login_location(start.status_code, location, start.get_data(as_text=True))
    callback = sandbox_callback(sandbox, login_url, username, password)
    done = client.get(callback)
    _check_signed_in(done.status_code, done.get_data(as_text=True))
    return done


def sign_out(client: FlaskClient, *, next_url: str = "/") -> TestResponse:
    """Sign ``client`` out as the site's own sign-out form does (a same-origin POST to the
    logout route); the answer (a 303 to ``next_url``).

    Raises:
        RuntimeError: the client's requests do not go to ``public_url``.
        AssertionError: the sign-out was refused (the answer's status and text).
    """
    config = _config(client)
    origin = {"Origin": _origin(config.public_url or "")}
    done = client.post(config.logout_path, query_string={"next": next_url}, headers=origin)
    if done.status_code != 303:
        raise AssertionError(f"sign-out answered {done.status_code}: {done.get_data(as_text=True)}")
    return done
