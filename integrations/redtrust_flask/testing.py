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
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import TEST_USERS

from .extension import state

__all__ = ["sign_in"]


def sign_in(
    client: FlaskClient,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
) -> TestResponse:
    """Sign ``client`` in as ``username`` (password: the sandbox's test user's by default);
    the callback's answer (a 303 to ``next_url``). The session cookie is then in the client.

    Raises:
        RuntimeError: the client's requests do not go to ``public_url`` (where the session
            cookie lives), with the ``app.config`` lines that fix it.
        AssertionError: the sign-in did not go through (the answer's status and text).
    """
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
    start = client.get(config.login_path, query_string={"next": next_url})
    if start.status_code != 302:
        raise AssertionError(f"login answered {start.status_code}: {start.get_data(as_text=True)}")
    known = password if password is not None else TEST_USERS[username]
    callback = sandbox.sign_in(start.headers["Location"], username, known)
    done = client.get(callback)
    if done.status_code != 303:
        raise AssertionError(f"callback answered {done.status_code}: {done.get_data(as_text=True)}")
    return done
