"""The FastAPI example's OpenAPI document: checked by an independent validator
(openapi-spec-validator), with the Redtrust cookie scheme that its protected operations
require, their 401 and 503, and the library's routes; ``/docs`` still renders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from examples.fastapi_app import create_app as create_fastapi_app
from fastapi import FastAPI
from openapi_spec_validator import validate

from redtrust_middleware import ConfigurationError
from redtrust_middleware.testing import make_config
from redtrust_starlette.fastapi import RedtrustSession, document_redtrust

from .conftest import Site, make_site

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fastapi_site() -> AsyncIterator[Site]:
    site, _ = make_site(create_fastapi_app)
    async with site.browser:
        yield site


async def schema_of(site: Site) -> dict[str, Any]:
    answer = await site.browser.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    return document


async def test_the_cookie_scheme_names_the_cookie_the_site_sets(fastapi_site: Site) -> None:
    document = await schema_of(fastapi_site)
    scheme = document["components"]["securitySchemes"]["redtrust"]
    done = await fastapi_site.sign_in()
    cookie = next(c for c in done.headers.get_list("set-cookie") if "redtrust_session=" in c)
    assert (scheme["type"], scheme["in"]) == ("apiKey", "cookie")
    assert scheme["name"] == cookie.split("=", 1)[0] == "__Host-redtrust_session"


async def test_protected_operations_require_it_and_document_their_refusals(
    fastapi_site: Site,
) -> None:
    paths = (await schema_of(fastapi_site))["paths"]
    for path in ("/api/me", "/me"):
        operation = paths[path]["get"]
        assert operation["security"] == [{"redtrust": []}]
        assert {"200", "401", "503"} <= set(operation["responses"])
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert "security" not in paths["/"]["get"]  # OptionalRedtrustSession: public
    # What the documented 401 says is what the app answers.
    api = await fastapi_site.browser.get("/api/me")
    assert api.status_code == 401
    assert set(api.json()) <= set(
        (await schema_of(fastapi_site))["components"]["schemas"]["RedtrustError"]["properties"]
    )


async def test_the_library_routes_are_documented(fastapi_site: Site) -> None:
    paths = (await schema_of(fastapi_site))["paths"]
    assert set(paths["/redtrust/login"]) == {"get"}
    assert set(paths["/redtrust/callback"]) == {"get"}
    assert set(paths["/redtrust/logout"]) == {"get", "post"}
    assert "302" in paths["/redtrust/login"]["get"]["responses"]
    # And they answer as documented.
    login = await fastapi_site.browser.get("/redtrust/login")
    assert str(login.status_code) in paths["/redtrust/login"]["get"]["responses"]
    post = await fastapi_site.browser.post("/redtrust/logout")
    assert str(post.status_code) in paths["/redtrust/logout"]["post"]["responses"]


async def test_docs_still_render(fastapi_site: Site) -> None:
    docs = await fastapi_site.browser.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text


def test_a_plain_http_site_documents_its_plain_cookie_name() -> None:
    app = FastAPI()

    @app.get("/api/me")
    def me(session: RedtrustSession) -> str:
        return session.subject or ""

    document = document_redtrust(app, make_config(public_url="http://127.0.0.1:8000")).openapi()
    validate(document)
    assert document["components"]["securitySchemes"]["redtrust"]["name"] == "redtrust_session"
    assert app.openapi() == document  # generated once, completed once


def test_a_config_without_public_url_fails_where_the_app_is_built() -> None:
    with pytest.raises(ConfigurationError, match="REDTRUST_PUBLIC_URL"):
        document_redtrust(FastAPI(), make_config(public_url=None))
