"""The library's pages on every face: Spanish for ``Accept-Language: es``, and a site's own
templates (``pages=Pages(templates=...)``) used by each middleware.

Expected Spanish comes from the shipped ``.po`` file; pages are read with ``html.parser``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from tests.catalogues import CORE_PO, po_translations
from tests.core.test_pages import Seen

from redtrust_flask import Redtrust
from redtrust_middleware import RedtrustASGIMiddleware, RedtrustWSGIMiddleware
from redtrust_middleware.pages import Pages
from redtrust_middleware.testing import TEST_APP_URL, make_config
from redtrust_starlette import RedtrustMiddleware

from .conftest import BAD_CALLBACKS, Site, page_signout_token

pytestmark = pytest.mark.anyio
ES = po_translations(CORE_PO)
SPANISH = {"accept-language": "es-ES,es;q=0.9,en;q=0.5", "sec-fetch-mode": "navigate"}


def _spanish(response: httpx2.Response, english_title: str) -> Seen:
    seen = Seen(response.text)
    assert seen.attribute("html", "lang") == "es"
    assert seen.texts["h1"] == [ES[english_title]]
    assert response.headers["content-language"] == "es"
    assert "accept-language" in response.headers["vary"].lower()
    return seen


async def test_every_page_a_browser_meets_is_in_spanish(site: Site) -> None:
    browser = site.browser
    # The sign-out confirmation, without and with a session.
    seen = _spanish(await browser.get("/redtrust/logout", headers=SPANISH), "Sign out?")
    assert seen.texts["button"] == [ES["Sign out"]]
    await site.sign_in()
    signed_in = await browser.get("/redtrust/logout", headers=SPANISH)
    _spanish(signed_in, "Sign out?")
    assert page_signout_token(signed_in.text)  # the form still signs out
    # A sign-out POST without proof, a wrong method, a bad callback.
    refused = await browser.post("/redtrust/logout", headers=SPANISH)
    assert refused.status_code == 403
    assert _spanish(refused, "Sign-out refused").texts["a"] == [ES["Go to the sign-out page"]]
    wrong = await browser.post("/redtrust/login", headers=SPANISH)
    assert wrong.status_code == 405
    assert _spanish(wrong, "Method not allowed").texts["p"] == [ES["Use a link to sign in."]]
    callback = BAD_CALLBACKS["missing"](await site.start())
    bad = await browser.get(callback, headers=SPANISH)
    assert bad.status_code == 400
    message = _spanish(bad, "Sign-in could not be completed").texts["p"][0]
    assert message.startswith(ES["'tkn' is missing"].capitalize())
    assert message.endswith(ES["%(reason)s. Please sign in again."].split(". ")[-1])


async def test_without_accept_language_the_pages_stay_english(site: Site) -> None:
    page = await site.browser.get("/redtrust/logout")
    seen = Seen(page.text)
    assert seen.attribute("html", "lang") == "en"
    assert seen.texts["h1"] == ["Sign out?"]
    assert page.headers["content-language"] == "en"


# -- a site's own templates, on each face --------------------------------------------------


def _templates(tmp_path: Path) -> Pages:
    (tmp_path / "signout_confirmation.html").write_text(
        '<main id=acme><h1>$title</h1><form method=post action="$logout_path">'
        "$signout_input<button>$button</button></form></main>"
    )
    return Pages(templates=tmp_path)


def _asgi(pages: Pages) -> Any:
    return RedtrustASGIMiddleware(PlainTextResponse("app"), config=make_config(), pages=pages)


def _starlette(pages: Pages) -> Any:
    app = Starlette()
    app.add_middleware(RedtrustMiddleware, config=make_config(), pages=pages)
    return app


def _fastapi(pages: Pages) -> Any:
    app = FastAPI()
    app.add_middleware(RedtrustMiddleware, config=make_config(), pages=pages)
    return app


def _wsgi(pages: Pages) -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"app"]

    return RedtrustWSGIMiddleware(app, config=make_config(), pages=pages)


def _flask(pages: Pages) -> Any:
    app = Flask(__name__)
    Redtrust(app, config=make_config(), pages=pages)
    return app


#: Each face with the site's pages; "asgi" is the bare middleware ``redtrust demo`` runs.
FACES: dict[str, tuple[Callable[[Pages], Any], bool]] = {
    "asgi": (_asgi, False),
    "starlette": (_starlette, False),
    "fastapi": (_fastapi, False),
    "wsgi": (_wsgi, True),
    "flask": (_flask, True),
}


@pytest.mark.parametrize("face", sorted(FACES))
async def test_a_sites_own_template_is_used_on_each_face(face: str, tmp_path: Path) -> None:
    build, wsgi = FACES[face]
    app = build(_templates(tmp_path))
    transport: httpx2.AsyncBaseTransport
    if wsgi:
        from .conftest import AsyncWSGITransport

        transport = AsyncWSGITransport(app)
    else:
        transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=TEST_APP_URL) as browser:
        for headers, title in (({}, "Sign out?"), (SPANISH, ES["Sign out?"])):
            page = await browser.get("/redtrust/logout", headers=headers)
            assert page.status_code == 200
            seen = Seen(page.text)
            assert seen.attribute("main", "id") == "acme"
            assert seen.texts["h1"] == [title]
            assert seen.attribute("form", "action") == "/redtrust/logout"
            assert page.headers["x-frame-options"] == "DENY"  # the headers stay the library's
