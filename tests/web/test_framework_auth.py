"""Each framework's own identity machinery on a Redtrust sign-in: the 401's challenge on every
face, Starlette's ``request.user`` / ``requires()`` (Starlette and FastAPI examples)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.datastructures import WWWAuthenticate

from redtrust_middleware.testing import TEST_APP_URL, make_config
from redtrust_starlette import RedtrustAuthBackend, RedtrustMiddleware
from redtrust_starlette.auth import claim_scopes

from .conftest import APPS, Site, make_site, page_signout_token, path_of

pytestmark = pytest.mark.anyio

#: The faces whose apps run Starlette (the examples install AuthenticationMiddleware).
STARLETTE_FACES = ["fastapi", "starlette"]


async def test_the_401_challenges_with_the_session_cookie_not_a_bearer(site: Site) -> None:
    api = await site.browser.get("/api/me")
    assert api.status_code == 401
    # Parsed by Werkzeug's RFC 9110 challenge parser, not ours.
    challenge = WWWAuthenticate.from_header(api.headers["www-authenticate"])
    assert challenge is not None
    assert challenge.type == "cookie"  # what is accepted; no bearer ever is
    assert challenge.parameters["realm"] == "redtrust"
    assert challenge.parameters["login-url"] == api.json()["login_url"]
    done = await site.sign_in()
    cookie = next(c for c in done.headers.get_list("set-cookie") if "redtrust_session=" in c)
    assert challenge.parameters["cookie-name"] == cookie.split("=", 1)[0]


@pytest.mark.parametrize("face", STARLETTE_FACES)
async def test_requires_redirects_to_the_login_route_and_back(face: str) -> None:
    site, _ = make_site(APPS[face])
    async with site.browser:
        before = await site.browser.get("/account?tab=2")
        # Starlette's own redirect: 303 to url_for(redirect) with next=<the full URL>.
        assert before.status_code == 303
        assert before.headers["location"] == (
            f"{TEST_APP_URL}/redtrust/login?next=https%3A%2F%2Fapp.test%2Faccount%3Ftab%3D2"
        )
        start = await site.browser.get(path_of(before.headers["location"]))
        callback = await site.follow_to_redtrust(start)
        done = await site.browser.get(path_of(callback))
        assert done.status_code == 303
        assert done.headers["location"] == "/account?tab=2"  # back where the user was
        account = await site.browser.get("/account")
        assert account.status_code == 200
        assert "Signed in as <strong>alice</strong>" in account.text
        assert "Scopes: authenticated redtrust" in account.text
        assert account.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("face", STARLETTE_FACES)
async def test_request_user_is_anonymous_when_signed_out_and_after_sign_out(face: str) -> None:
    site, _ = make_site(APPS[face])
    async with site.browser:
        await site.sign_in()
        assert (await site.browser.get("/account")).status_code == 200
        form = await site.browser.get("/redtrust/logout")
        token = page_signout_token(form.text)
        out = await site.browser.post("/redtrust/logout", data={"redtrust_signout": token})
        assert out.status_code == 303
        assert (await site.browser.get("/account")).status_code == 303


def _probe_app(*, redtrust_first: bool, **options: Any) -> Starlette:
    @requires("authenticated")
    async def private(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity)

    async def public(request: Request) -> PlainTextResponse:
        user = request.user
        return PlainTextResponse(f"{user.is_authenticated} {request.auth.scopes}")

    redtrust = Middleware(RedtrustMiddleware, config=make_config(), **options)
    auth = Middleware(AuthenticationMiddleware, backend=RedtrustAuthBackend())
    return Starlette(
        routes=[Route("/", public), Route("/private", private)],
        middleware=[redtrust, auth] if redtrust_first else [auth, redtrust],
    )


def test_signed_out_the_user_is_anonymous_and_requires_gives_its_403() -> None:
    with TestClient(_probe_app(redtrust_first=True), base_url=TEST_APP_URL) as client:
        assert client.get("/").text == "False []"
        assert client.get("/private").status_code == 403  # Starlette's default status_code


def test_the_wrong_middleware_order_is_an_error_naming_the_fix() -> None:
    client = TestClient(_probe_app(redtrust_first=False), base_url=TEST_APP_URL)
    with client, pytest.raises(RuntimeError) as raised:
        client.get("/")
    message = str(raised.value)
    assert "RedtrustMiddleware must run before AuthenticationMiddleware" in message
    assert "Middleware(RedtrustMiddleware, ...) before Middleware(AuthenticationMiddleware" in (
        message
    )


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({}, []),
        ({"scope": "openid certs:read"}, ["openid", "certs:read"]),  # RFC 8693 section 4.2
        ({"scope": ["a", "b", 3, ""]}, ["a", "b"]),
        ({"scope": 42}, []),
    ],
)
def test_the_scope_claim_becomes_scopes(claims: dict[str, Any], scopes: list[str]) -> None:
    assert claim_scopes(claims) == scopes
