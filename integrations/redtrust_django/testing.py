"""Sign a Django test client in through the in-process sandbox (no socket, no browser).

::

    sandbox = make_sandbox(clock=FakeClock())

    @override_settings(**sandbox_settings(sandbox))
    class MeTests(TestCase):
        def setUp(self):
            self.enterContext(use_sandbox(sandbox))

        def test_me(self):
            sign_in(self.client, sandbox, "alice")
            self.assertEqual(self.client.get("/me").status_code, 200)

:func:`sign_in` goes through the site's real login view, the sandbox's login page and the
callback view (so ``redtrust_logged_in`` receivers and authentication backends run);
:func:`asign_in` does the same with ``django.test.AsyncClient``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpResponseBase
from django.http.request import validate_host
from django.test import AsyncClient, Client

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware._clock import Clock
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_SERVER_URL,
    TESTSERVER_URL,
    _check_signed_in,
    _login_location,
    _origin,
    make_sandbox,
    sandbox_callback,
)

from .conf import get_runtime, use_transports

__all__ = ["asign_in", "asign_out", "sandbox_settings", "sign_in", "sign_out", "use_sandbox"]


def sandbox_settings(sandbox: Sandbox | None = None) -> dict[str, Any]:
    """The settings that point the site at ``sandbox`` (default: one made by
    :func:`~redtrust_middleware.testing.make_sandbox`): ``REDTRUST`` (the current one, with
    the sandbox's server, partner, secret and public URL) and ``ALLOWED_HOSTS`` (plus the
    public URL's host). The public URL is :data:`~redtrust_middleware.testing.TESTSERVER_URL`
    when the sandbox sends users back there (:func:`make_sandbox`'s does): the test clients'
    own host. For ``override_settings(**sandbox_settings(sandbox))``, or set each
    on pytest-django's ``settings`` fixture."""
    sandbox = sandbox if sandbox is not None else make_sandbox()
    partners = sandbox.config.partners
    if len(partners) != 1:
        raise ValueError("the sandbox has several partners: give the site one of them by hand")
    ((partner, secret),) = partners.items()
    origins = [_origin(prefix) for prefix in sandbox.config.redirect_prefixes]
    # The test clients' own host first: Django's AsyncClient cannot send another one.
    public_url = TESTSERVER_URL if TESTSERVER_URL in origins else origins[0]
    current = getattr(settings, "REDTRUST", None)
    redtrust = dict(current) if isinstance(current, Mapping) else {}
    redtrust.update(
        SERVER_URL=TEST_SERVER_URL, PARTNER=partner, SHARED_SECRET=secret, PUBLIC_URL=public_url
    )
    hosts = list(settings.ALLOWED_HOSTS)
    host = urlsplit(public_url).hostname or ""
    if not validate_host(host, hosts):
        hosts.append(host)
    return {"REDTRUST": redtrust, "ALLOWED_HOSTS": hosts}


@contextmanager
def use_sandbox(sandbox: Sandbox, *, clock: Clock | None = None) -> Iterator[Sandbox]:
    """Let ``sandbox`` answer the site's calls to Redtrust in-process, on the sandbox's clock
    (or ``clock``), so that ``expire_access_token(sandbox)`` reaches the site. The settings
    must point at the sandbox (:func:`sandbox_settings`)."""
    with use_transports(
        transport=sandbox.transport(),
        async_transport=sandbox.async_transport(),
        clock=clock if clock is not None else sandbox.clock,
    ):
        yield sandbox


def _site(sandbox: Sandbox) -> RedtrustConfig:
    """The site's config, checked against the sandbox."""
    config = get_runtime().config
    fix = "override_settings(**sandbox_settings(sandbox)), or set each on pytest's settings"
    if sandbox.config.partners.get(config.partner) != config.shared_secret:
        raise ConfigurationError(
            "REDTRUST['PARTNER']",
            f"the sandbox does not know partner {config.partner!r} with this SHARED_SECRET: {fix}",
        )
    if not any((config.redirect_url or "").startswith(p) for p in sandbox.config.redirect_prefixes):
        raise ConfigurationError(
            "REDTRUST['PUBLIC_URL']",
            f"the sandbox does not send users back to {config.public_url}: {fix}",
        )
    host = urlsplit(config.public_url or "").hostname or ""
    if not validate_host(host, settings.ALLOWED_HOSTS):
        raise ConfigurationError(
            "ALLOWED_HOSTS",
            f"the sign-in is sent to PUBLIC_URL's host {host!r}, which is not allowed: add "
            f"it, or {fix}",
        )
    return config


def _options(config: RedtrustConfig, *, is_async: bool) -> dict[str, Any]:
    """What sends a request to ``PUBLIC_URL``, as the browser Redtrust sends back does."""
    public = urlsplit(config.public_url or "")
    # Django's AsyncClient always sends Host: testserver (another one would make it two).
    headers = {} if is_async or public.hostname == "testserver" else {"host": public.netloc}
    return {"headers": headers, "secure": public.scheme == "https"}


def _text(response: HttpResponseBase) -> str:
    """The start of a response's body, for an error message (streamed ones have none)."""
    return bytes(getattr(response, "content", b"")).decode(errors="replace")[:500]


def _callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign_in(
    client: Client,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
) -> HttpResponseBase:
    """Sign ``client`` in as ``username`` (password: the sandbox's, by default) through the
    site's login view, the sandbox's login page and the callback view; the callback's answer
    (a 303 to ``next_url``). The session cookie is then in the client.

    Raises:
        ConfigurationError: the settings do not point at the sandbox (the setting, the fix).
        AssertionError: the sign-in did not go through (the answer's status and text).
        ValueError: the sandbox has no such user, or refused the credentials.
    """
    config = _site(sandbox)
    options = _options(config, is_async=False)
    start = client.get(config.login_path, {"next": next_url}, **options)
    location = _login_location(start.status_code, start.get("location"), _text(start))
    callback = sandbox_callback(sandbox, location, username, password)
    done = client.get(_callback_path(callback), **options)
    _check_signed_in(done.status_code, _text(done))
    return done


async def asign_in(
    client: AsyncClient,
    sandbox: Sandbox,
    username: str = "alice",
    password: str | None = None,
    *,
    next_url: str = "/",
) -> HttpResponseBase:
    """:func:`sign_in` for ``django.test.AsyncClient`` (the site served as ASGI)."""
    config = _site(sandbox)
    options = _options(config, is_async=True)
    start = await client.get(config.login_path, {"next": next_url}, **options)
    location = _login_location(start.status_code, start.get("location"), _text(start))
    callback = sandbox_callback(sandbox, location, username, password)
    done = await client.get(_callback_path(callback), **options)
    _check_signed_in(done.status_code, _text(done))
    return done


def _signout(next_url: str, *, is_async: bool) -> dict[str, Any]:
    config = get_runtime().config
    options = _options(config, is_async=is_async)
    # The Origin a browser sends from one of the site's own pages: the sign-out's proof.
    headers = {**options["headers"], "origin": _origin(config.public_url or "")}
    path = f"{config.logout_path}?{urlencode({'next': next_url})}"
    return {"path": path, **options, "headers": headers}


def _check_signed_out(response: HttpResponseBase) -> HttpResponseBase:
    if response.status_code != 303:
        raise AssertionError(f"the sign-out answered {response.status_code}: {_text(response)}")
    return response


def sign_out(client: Client, *, next_url: str = "/") -> HttpResponseBase:
    """Sign ``client`` out as the site's own sign-out form does (a same-origin POST to the
    logout view); the answer (a 303 to ``next_url``)."""
    return _check_signed_out(client.post(**_signout(next_url, is_async=False)))


async def asign_out(client: AsyncClient, *, next_url: str = "/") -> HttpResponseBase:
    """:func:`sign_out` for ``django.test.AsyncClient``."""
    return _check_signed_out(await client.post(**_signout(next_url, is_async=True)))
