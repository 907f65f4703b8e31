"""What the README says about Starlette's TestClient once this package is installed.

``starlette.testclient`` imports ``httpx2`` when it can and ``httpx`` only without it; this
package depends on ``httpx2``, so an app's TestClient speaks httpx2: its responses and its
transport are httpx2's, and this library's clients take its transports.
"""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient


def _hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


def test_the_starlette_test_client_is_an_httpx2_client() -> None:
    app = Starlette(routes=[Route("/", _hello)])
    with TestClient(app) as client:
        response = client.get("/")
    assert isinstance(client, httpx2.Client)
    assert isinstance(response, httpx2.Response)
    assert response.text == "hello"
