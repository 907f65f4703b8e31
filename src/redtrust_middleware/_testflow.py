"""Signing a test client in through the real flow: login route, sandbox page, callback.

The steps every face's test helper shares (the Flask and Django faces wrap them around their
own test clients), and the helpers for ``httpx2`` clients: Starlette's and FastAPI's
``TestClient`` is an ``httpx2.Client`` once this package is installed, and
``httpx2.AsyncClient(transport=httpx2.ASGITransport(app))`` drives any ASGI app, so these
serve every ASGI (and, with ``httpx2.WSGITransport``, WSGI) app without a framework import.

Nothing here forges a session: the app's login route writes the pending login, the sandbox's
login page takes the user's credentials, and the app's callback exchanges the temporary token,
exactly as a browser goes through them.
"""

from __future__ import annotations

from dataclasses import fields
from urllib.parse import urlsplit

import httpx2

from .config import RedtrustConfig
from .sandbox import Sandbox

__all__ = [
    "asign_in",
    "asign_out",
    "check_signed_in",
    "expire_access_token",
    "login_answer_location",
    "origin_of",
    "sandbox_callback",
    "sign_in",
    "sign_out",
]

#: The route paths of an app that kept the defaults (a config given to a helper overrides them).
_DEFAULT_PATHS = {
    field.name: str(field.default)
    for field in fields(RedtrustConfig)
    if field.name in ("login_path", "logout_path")
}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower case, as browsers send ``Origin``)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def sandbox_callback(
    sandbox: Sandbox, login_url: str, username: str = "alice", password: str | None = None
) -> str:
    """Sign ``username`` in on the sandbox's login page at ``login_url`` (where the app's login
    route sent the browser); the callback URL Redtrust sends the browser back to.

    ``password`` defaults to the sandbox's own password for ``username`` (its
    ``SandboxConfig.users``). Any subject works: give the sandbox that user
    (``make_sandbox(users={"carol": "pw"})``).

    Raises:
        ValueError: the sandbox has no such user (what to do instead), or its login page or
            sign-in refused (the status).
    """
    if password is None:
        known = sandbox.config.users.get(username)
        if known is None:
            users = ", ".join(sorted(sandbox.config.users)) or "none"
            raise ValueError(
                f"the sandbox has no user {username!r} (it knows: {users}): make one with "
                f"make_sandbox(users={{{username!r}: 'any-password'}}), or pass password= for "
                "a user it knows"
            )
        password = known
    return sandbox.sign_in(login_url, username, password)


def login_answer_location(status: int, location: str | None, text: str) -> str:
    """The sandbox login URL the app's login route answered with; raises when it did not."""
    if status != 302 or not location:
        raise AssertionError(f"the login route answered {status}: {text[:500]}")
    if "/loginrequest?" not in location:
        raise AssertionError(
            f"the login route sent the browser to {location}, not to the sandbox's login page: "
            "open the app at its public_url (the test client's base URL or host)"
        )
    return location


def check_signed_in(status: int, text: str) -> None:
    """Raise when the callback's answer is not the 303 of a completed sign-in."""
    if status != 303:
        raise AssertionError(f"the callback answered {status}: {text[:500]}")


def expire_access_token(sandbox: Sandbox) -> float:
    """Let the signed-in users' access tokens expire: move the sandbox's fake clock (shared
    with the app) past their lifetime. The next request of a signed-in client refreshes its
    token; the refresh token is still valid. Returns the seconds the clock moved.

    Raises:
        TypeError: the sandbox does not run on a :class:`~redtrust_middleware.testing.FakeClock`.
    """
    advance = getattr(sandbox.clock, "advance", None)
    if not callable(advance):
        raise TypeError(
            "the sandbox runs on the real clock: make it with make_sandbox(clock=FakeClock()) "
            "(or use the redtrust_sandbox fixture) and give the app the same clock"
        )
    config = sandbox.config
    seconds = float(max(config.access_token_ttl, config.refreshed_access_token_ttl or 0) + 1)
    advance(seconds)
    return seconds


# -- httpx2 clients (Starlette's and FastAPI's TestClient, httpx2.AsyncClient) ---------------


def _path(config: RedtrustConfig | None, name: str) -> str:
    return str(getattr(config, name)) if config is not None else _DEFAULT_PATHS[name]


def _check_base_url(client: httpx2.Client | httpx2.AsyncClient, url: str, what: str) -> None:
    """The session cookie belongs to ``public_url``: the client must send its requests there."""
    base, wanted = origin_of(str(client.base_url)), origin_of(url)
    if base != wanted:
        raise RuntimeError(
            f"the test client sends its requests to {base}, but {what} {wanted}, where the "
            f"session cookie lives: make the client with base_url={wanted!r} (TestClient(app, "
            f"base_url={wanted!r}) or httpx2.AsyncClient(..., base_url={wanted!r}))"
        )


def _login_target(client: httpx2.Client | httpx2.AsyncClient, config: RedtrustConfig | None) -> str:
    if config is not None and config.public_url is not None:
        _check_base_url(client, config.public_url, "public_url is")
    return _path(config, "login_path")


def _callback(
    client: httpx2.Client | httpx2.AsyncClient,
    response: httpx2.Response,
    sandbox: Sandbox,
    username: str,
    password: str | None,
) -> str:
    location = login_answer_location(
        response.status_code, response.headers.get("location"), response.text
    )
    callback = sandbox_callback(sandbox, location, username, password)
    _check_base_url(client, callback, "Redtrust sends the browser back to")
    return callback


def sign_in(
    client: httpx2.Client,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
    config: RedtrustConfig | None = None,
) -> httpx2.Response:
    """Sign ``client`` (Starlette's or FastAPI's ``TestClient``, any ``httpx2.Client``) in as
    ``username`` through the app's login route, the sandbox's login page and the app's
    callback; the callback's answer (a 303 to ``next_url``). The session cookie is then in
    the client.

    ``password`` defaults to the sandbox's password for ``username``; ``config`` is the app's
    (for its route paths and ``public_url``; default: the default paths).

    Raises:
        RuntimeError: the client's base URL is not ``public_url`` (where the session cookie
            lives), with the ``base_url=`` that fixes it.
        AssertionError: the sign-in did not go through (the answer's status and text).
        ValueError: the sandbox has no such user, or refused the credentials.
    """
    path = _login_target(client, config)
    start = client.get(path, params={"next": next_url}, follow_redirects=False)
    callback = _callback(client, start, sandbox, username, password)
    done = client.get(callback, follow_redirects=False)
    check_signed_in(done.status_code, done.text)
    return done


async def asign_in(
    client: httpx2.AsyncClient,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
    config: RedtrustConfig | None = None,
) -> httpx2.Response:
    """:func:`sign_in` for an ``httpx2.AsyncClient`` (e.g. over ``httpx2.ASGITransport``)."""
    path = _login_target(client, config)
    start = await client.get(path, params={"next": next_url}, follow_redirects=False)
    callback = _callback(client, start, sandbox, username, password)
    done = await client.get(callback, follow_redirects=False)
    check_signed_in(done.status_code, done.text)
    return done


def _signout_request(
    client: httpx2.Client | httpx2.AsyncClient, config: RedtrustConfig | None, next_url: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    if config is not None and config.public_url is not None:
        _check_base_url(client, config.public_url, "public_url is")
    # The Origin a browser sends from one of the site's own pages: the sign-out's proof.
    origin = {"origin": origin_of(str(client.base_url))}
    return _path(config, "logout_path"), {"next": next_url}, origin


def _check_signed_out(response: httpx2.Response) -> httpx2.Response:
    if response.status_code != 303:
        raise AssertionError(f"the sign-out answered {response.status_code}: {response.text[:500]}")
    return response


def sign_out(
    client: httpx2.Client, *, next_url: str = "/", config: RedtrustConfig | None = None
) -> httpx2.Response:
    """Sign ``client`` out as the site's own sign-out form does (a same-origin POST to the
    logout route); the answer (a 303 to ``next_url``). The session ends at Redtrust too
    (in the ``ra-api`` profile).

    Raises:
        RuntimeError: the client's base URL is not ``public_url``.
        AssertionError: the sign-out was refused (the answer's status and text).
    """
    path, params, headers = _signout_request(client, config, next_url)
    response = client.post(path, params=params, headers=headers, follow_redirects=False)
    return _check_signed_out(response)


async def asign_out(
    client: httpx2.AsyncClient, *, next_url: str = "/", config: RedtrustConfig | None = None
) -> httpx2.Response:
    """:func:`sign_out` for an ``httpx2.AsyncClient``."""
    path, params, headers = _signout_request(client, config, next_url)
    response = await client.post(path, params=params, headers=headers, follow_redirects=False)
    return _check_signed_out(response)
