"""Bad input never reaches a 500: routing, methods, sizes, encodings, types."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.sandbox import _routes as routes

from ._support import (
    DIRECT_LOGIN_PATH,
    EXCHANGE_PATH,
    JSON,
    LOGIN_PATH,
    PARTNER,
    RA_REFRESH_PATH,
    SECRET,
    FakeClock,
    envelope_of,
    signed_headers,
)


@pytest.mark.parametrize(
    "path",
    ["/", "/nope", "/authapi/v1/login_by_temp_token/", "/AUTHAPI/v1/login_by_temp_token", "/raapi"],
)
def test_unknown_path(client: httpx2.Client, path: str) -> None:
    envelope_of(client.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", EXCHANGE_PATH, "GET, POST"),
        ("POST", RA_REFRESH_PATH, "PUT"),
        ("GET", DIRECT_LOGIN_PATH, "POST"),
        ("GET", "/_sandbox/reset", "POST"),
    ],
)
def test_wrong_method(client: httpx2.Client, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    envelope_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow


def test_wrong_method_on_a_browser_route_is_a_page(client: httpx2.Client) -> None:
    response = client.post(LOGIN_PATH)
    assert response.status_code == 405
    assert "<code>METHOD_NOT_ALLOWED</code>" in response.text
    assert response.headers["allow"] == "GET"


def test_body_too_large(clock: FakeClock) -> None:
    config = SandboxConfig(
        partners={PARTNER: SECRET},
        users={},
        redirect_prefixes=("https://app.example/",),
        max_body_bytes=1024,
    )
    sandbox = Sandbox(config, clock=clock)
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        body = {"temporalToken": "x" * 1024}
        response = client.post(EXCHANGE_PATH, json=body, headers=signed_headers())
        envelope_of(response, 413, "PAYLOAD_TOO_LARGE")
        body = {"temporalToken": "x" * 900}
        response = client.post(EXCHANGE_PATH, json=body, headers=signed_headers())
        envelope_of(response, 401, "INVALID_TEMPORAL_TOKEN")


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"temporalToken": "caf\xe9"}', "UTF-8"),
        (b"", "JSON"),
        (b"not json", "JSON"),
        (b'{"temporalToken": "a"', "JSON"),
        (b"[]", "object"),
        (b'"temporalToken"', "object"),
        (b"null", "object"),
        (b"42", "object"),
        (b'{"temporalToken": NaN}', "NaN"),
        (b'{"temporalToken": Infinity}', "Infinity"),
        (b'{"temporalToken": "a", "temporalToken": "b"}', "'temporalToken'"),
        (b"{}", "'temporalToken'"),
        (b'{"temporalToken": null}', "'temporalToken'"),
        (b'{"temporalToken": ""}', "'temporalToken'"),
        (b'{"temporalToken": 42}', "'temporalToken'"),
        (b'{"temporalToken": true}', "'temporalToken'"),
        (b'{"temporalToken": ["a"]}', "'temporalToken'"),
        (b'{"temporalToken": {"a": 1}}', "'temporalToken'"),
        (b'{"temporaltoken": "a"}', "'temporalToken'"),
        (b'{"temporalToken": "' + b"a" * 5000 + b'"}', "'temporalToken'"),
        (b"[" * 20_000 + b"]" * 20_000, "JSON"),
    ],
)
def test_malformed_json_body(client: httpx2.Client, content: bytes, mentions: str) -> None:
    headers = {**signed_headers(), **JSON}
    response = client.post(EXCHANGE_PATH, content=content, headers=headers)
    envelope_of(response, 400, "INVALID_REQUEST")
    assert mentions in response.json()["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_body_needs_the_json_media_type(
    client: httpx2.Client, content_type: str | None
) -> None:
    headers = signed_headers()
    if content_type is not None:
        headers["content-type"] = content_type
    response = client.post(EXCHANGE_PATH, content=b'{"temporalToken": "a"}', headers=headers)
    envelope_of(response, 400, "INVALID_REQUEST")
    assert "Content-Type" in response.json()["message"]


def test_json_media_type_with_charset_is_fine(client: httpx2.Client) -> None:
    headers = {**signed_headers(), "content-type": "application/json; charset=utf-8"}
    response = client.post(EXCHANGE_PATH, content=b'{"temporalToken": "a"}', headers=headers)
    envelope_of(response, 401, "INVALID_TEMPORAL_TOKEN")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "'username'"),
        ({"username": "bob"}, "'password'"),
        ({"username": 1, "password": "x"}, "'username'"),
        ({"username": "bob", "password": ["x"]}, "'password'"),
        ({"username": "bob", "password": "builder", "domain": 7}, "'domain'"),
    ],
)
def test_direct_login_field_errors(client: httpx2.Client, body: dict[str, Any], field: str) -> None:
    response = client.post(DIRECT_LOGIN_PATH, json=body, headers=signed_headers())
    envelope_of(response, 400, "INVALID_REQUEST")
    assert field in response.json()["message"]


def test_direct_login_with_an_empty_domain_is_a_login_without_one(client: httpx2.Client) -> None:
    body = {"username": "bob", "password": "builder", "domain": ""}
    response = client.post(DIRECT_LOGIN_PATH, json=body, headers=signed_headers())
    assert response.status_code == 200
    assert response.json()["errorCode"] == "OK"


def test_a_handler_bug_is_a_500_envelope_without_traceback(
    client: httpx2.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sv: routes.Services, request: httpx2.Request) -> httpx2.Response:
        raise RuntimeError("boom with a secret inside")

    monkeypatch.setitem(
        routes.ROUTES, DIRECT_LOGIN_PATH, routes.Route("login", "api", {"POST": broken})
    )
    response = client.post(DIRECT_LOGIN_PATH, json={}, headers=signed_headers())
    envelope_of(response, 500, "INTERNAL_ERROR")
    assert "boom" not in response.text
    assert "Traceback" not in response.text
    assert "sandbox bug" in caplog.text


def test_handle_never_raises_on_an_unread_stream(sandbox: Sandbox) -> None:
    def chunks() -> Any:
        yield b"{}"

    request = httpx2.Request("POST", "https://rt.example" + EXCHANGE_PATH, content=chunks())
    envelope_of(sandbox.handle(request), 500, "INTERNAL_ERROR")
