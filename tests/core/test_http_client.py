"""Client and AsyncClient against a hand-written fake Redtrust (``httpx2.MockTransport``).

Every test runs twice, once per driver, through :class:`Harness`, so the two cannot drift.
Signatures are recomputed here with ``hmac``/``hashlib``, never with the library.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from tests.logscan import of, scan

from redtrust_middleware.client import ApiRequest, AsyncClient, Call, Client, parse_envelope
from redtrust_middleware.config import CERTIFICATE_ENROLL, RA_API, Profile, RedtrustConfig
from redtrust_middleware.exceptions import (
    APIError,
    InvalidInputError,
    OutcomeUnknownError,
    ProtocolError,
    RedtrustError,
    TransportError,
    UpstreamTimeout,
)
from redtrust_middleware.tokens import TokenSet

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000
PARTNER = "CA_DEMO"
SECRET = "the-shared-secret-0123456789abcdef"
TEMP = "TEMP.token_0123~ABC-xyz"
ACCESS = "old-access-token-AAAA"
REFRESH = "old-refresh-token-RRRR"
NEW_ACCESS = "new-access-token-BBBB"
NEW_REFRESH = "new-refresh-token-SSSS"
SERVER = "https://redtrust.example"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXCHANGE = "/authapi/v1/login_by_temp_token"

Handler = Callable[[httpx2.Request], httpx2.Response]


def iso(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_hmac(partner: str, timestamp: str) -> str:
    return hmac.new(
        SECRET.encode("utf-8"), f"{partner}:{timestamp}".encode(), hashlib.sha256
    ).hexdigest()


def envelope(
    data: Any = None, *, kind: str = "SUCCESS", code: str = "OK", message: str = "done"
) -> dict[str, Any]:
    return {"message": message, "messageType": kind, "errorCode": code, "data": data}


def token_data(expires_in: int = 600) -> dict[str, Any]:
    return {
        "accessToken": NEW_ACCESS,
        "refreshToken": NEW_REFRESH,
        "expiration": iso(NOW + expires_in),
    }


def answer(
    body: Any,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": content_type, **(headers or {})}
    return httpx2.Response(status, content=raw, headers=all_headers)


def tokens_ok(request: httpx2.Request) -> httpx2.Response:
    return answer(envelope(token_data()))


def old_tokens() -> TokenSet:
    return TokenSet(
        access_token=ACCESS, refresh_token=REFRESH, expires_at=EPOCH + timedelta(seconds=NOW + 30)
    )


class FakeClock:
    """A settable clock that also records each reading."""

    def __init__(self, now: float = NOW, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self.readings: list[float] = []

    def __call__(self) -> float:
        value = self.now
        self.readings.append(value)
        self.now += self.step
        return value


class Upstream:
    """The fake Redtrust: records every request and answers with ``handler``."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.handler: Handler = tokens_ok

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]


@dataclass
class Harness:
    """One driver (sync or async) wired to the fake upstream; ``call`` works for both."""

    kind: str
    upstream: Upstream = field(default_factory=Upstream)
    clock: FakeClock = field(default_factory=FakeClock)
    overrides: dict[str, Any] = field(default_factory=dict)

    def config(self) -> RedtrustConfig:
        values: dict[str, Any] = {
            "server_url": SERVER,
            "partner": PARTNER,
            "shared_secret": SECRET,
        }
        values.update(self.overrides)
        return RedtrustConfig(**values)

    def configure(self, **overrides: Any) -> Harness:
        self.overrides.update(overrides)
        return self

    def reply(self, handler: Handler) -> Harness:
        self.upstream.handler = handler
        return self

    async def call(self, name: str, *args: Any) -> Any:
        """Build a client, call ``name`` on it (awaiting when async), close it."""
        transport = httpx2.MockTransport(self.upstream)
        if self.kind == "sync":
            with Client(self.config(), transport=transport, clock=self.clock) as client:
                return getattr(client, name)(*args)
        async with AsyncClient(self.config(), transport=transport, clock=self.clock) as aclient:
            result = getattr(aclient, name)(*args)
            return await result if inspect.isawaitable(result) else result


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Harness:
    return Harness(kind=request.param)


def check_signed(request: httpx2.Request, timestamp: int) -> None:
    """The three HMAC headers are present and correct for ``timestamp``."""
    assert request.headers["x-partner-name"] == PARTNER
    assert request.headers["x-request-timestamp"] == str(timestamp)
    assert request.headers["x-hmac-signature"] == expected_hmac(PARTNER, str(timestamp))


def body_of(request: httpx2.Request) -> Any:
    return json.loads(request.content) if request.content else None


def assert_clean(error: BaseException, *values: str) -> None:
    """Neither the message nor the repr of ``error`` contains a secret value."""
    text = f"{error!s} {error!r} {error.args!r}"
    for value in (SECRET, TEMP, ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH, *values):
        assert value not in text


# --- request shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "method", "port"), [(CERTIFICATE_ENROLL, "GET", 8083), (RA_API, "POST", 8082)]
)
async def test_exchange_request_shape(
    harness: Harness, profile: Profile, method: str, port: int
) -> None:
    tokens = await harness.configure(profile=profile).call("exchange", TEMP)
    request = harness.upstream.last
    assert harness.upstream.calls == 1
    assert request.method == method
    assert str(request.url) == f"https://redtrust.example:{port}{EXCHANGE}"
    assert body_of(request) == {"temporalToken": TEMP}
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    check_signed(request, NOW)
    assert isinstance(tokens, TokenSet)
    assert (tokens.access_token, tokens.refresh_token) == (NEW_ACCESS, NEW_REFRESH)
    assert tokens.expires_at == EPOCH + timedelta(seconds=NOW + 600)


async def test_refresh_in_certificate_enroll_sends_the_bearer(harness: Harness) -> None:
    tokens = await harness.call("refresh", old_tokens())
    request = harness.upstream.last
    assert request.method == "PUT"
    assert str(request.url) == "https://redtrust.example:8083/authapi/v1/refresh-token"
    assert request.headers["authorization"] == f"Bearer {ACCESS}"
    assert request.headers["content-type"] == "application/json"
    assert body_of(request) == {"refreshToken": REFRESH}
    check_signed(request, NOW)
    assert (tokens.access_token, tokens.refresh_token) == (NEW_ACCESS, NEW_REFRESH)


async def test_refresh_in_ra_api_sends_no_bearer(harness: Harness) -> None:
    await harness.configure(profile=RA_API).call("refresh", old_tokens())
    request = harness.upstream.last
    assert request.method == "PUT"
    assert str(request.url) == "https://redtrust.example:8082/raapi/v1/auth/refresh-token"
    assert "authorization" not in request.headers
    assert body_of(request) == {"refreshToken": REFRESH}
    check_signed(request, NOW)


async def test_refresh_keeps_the_old_refresh_token_when_none_is_returned(harness: Harness) -> None:
    data = {"accessToken": NEW_ACCESS, "expiration": iso(NOW + 600)}
    harness.reply(lambda request: answer(envelope(data)))
    tokens = await harness.call("refresh", old_tokens())
    assert (tokens.access_token, tokens.refresh_token) == (NEW_ACCESS, REFRESH)


async def test_refresh_without_a_refresh_token_sends_nothing(harness: Harness) -> None:
    tokens = TokenSet(access_token=ACCESS, refresh_token=None, expires_at=old_tokens().expires_at)
    with pytest.raises(InvalidInputError):
        await harness.call("refresh", tokens)
    assert harness.upstream.calls == 0


@pytest.mark.parametrize("profile", [CERTIFICATE_ENROLL, RA_API])
async def test_direct_login_request_shape(harness: Harness, profile: Profile) -> None:
    await harness.configure(profile=profile).call("login", "alice", "wonder land", "users")
    request = harness.upstream.last
    assert request.method == "POST"
    assert request.url.path == "/raapi/v1/auth/login"
    assert body_of(request) == {"username": "alice", "password": "wonder land", "domain": "users"}
    assert "authorization" not in request.headers
    check_signed(request, NOW)


async def test_direct_login_domain_defaults_to_config(harness: Harness) -> None:
    await harness.configure(domain="local.users").call("login", "alice", "pw")
    assert body_of(harness.upstream.last) == {
        "username": "alice",
        "password": "pw",
        "domain": "local.users",
    }
    await harness.configure(domain=None).call("login", "alice", "pw")
    assert body_of(harness.upstream.last) == {"username": "alice", "password": "pw"}


async def test_logout_in_ra_api_sends_delete_with_bearer(harness: Harness) -> None:
    harness.configure(profile=RA_API).reply(lambda request: answer(envelope({})))
    assert await harness.call("logout", old_tokens()) is True
    request = harness.upstream.last
    assert request.method == "DELETE"
    assert str(request.url) == "https://redtrust.example:8082/raapi/v1/auth/logout"
    assert request.headers["authorization"] == f"Bearer {ACCESS}"
    assert request.content == b""
    check_signed(request, NOW)


async def test_logout_accepts_null_data(harness: Harness) -> None:
    harness.configure(profile=RA_API).reply(lambda request: answer(envelope(None)))
    assert await harness.call("logout", old_tokens()) is True


async def test_logout_in_certificate_enroll_sends_nothing(harness: Harness) -> None:
    assert await harness.call("logout", old_tokens()) is False
    assert harness.upstream.calls == 0


async def test_every_call_gets_a_fresh_timestamp_from_the_clock(harness: Harness) -> None:
    harness.configure(profile=RA_API)
    harness.clock.now = NOW + 0.9
    await harness.call("exchange", TEMP)
    harness.clock.now = NOW + 125.4
    await harness.call("refresh", old_tokens())
    harness.clock.now = NOW + 301
    harness.reply(lambda request: answer(envelope({})))
    await harness.call("logout", old_tokens())
    stamps = [r.headers["x-request-timestamp"] for r in harness.upstream.requests]
    assert stamps == [str(NOW), str(NOW + 125), str(NOW + 301)]
    for request, stamp in zip(harness.upstream.requests, stamps, strict=True):
        check_signed(request, int(stamp))


async def test_common_headers_and_timeouts(harness: Harness) -> None:
    await harness.configure(timeout=2.5).call("exchange", TEMP)
    request = harness.upstream.last
    assert request.headers["accept"] == "application/json"
    assert request.extensions["timeout"] == {
        "connect": 2.5,
        "read": 2.5,
        "write": 2.5,
        "pool": 2.5,
    }


async def test_token_expiry_is_judged_with_the_injected_clock(harness: Harness) -> None:
    # The clock reads past the data's expiration: the answer is unusable.
    harness.clock.now = NOW + 601
    with pytest.raises(RedtrustError):
        await harness.call("exchange", TEMP)


# --- envelope parsing -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400, 401, 500])
async def test_error_envelope_becomes_api_error(harness: Harness, status: int) -> None:
    body = envelope(None, kind="ERROR", code="INVALID_TEMPORAL_TOKEN", message="Token expired")
    harness.reply(lambda request: answer(body, status))
    with pytest.raises(APIError) as caught:
        await harness.call("exchange", TEMP)
    error = caught.value
    assert (error.code, error.message, error.status) == (
        "INVALID_TEMPORAL_TOKEN",
        "Token expired",
        status,
    )
    assert error.operation == "exchange"
    assert error.is_transient is (status >= 500)
    assert_clean(error)


async def test_success_with_a_non_ok_code_is_an_api_error(harness: Harness) -> None:
    harness.reply(lambda request: answer(envelope(token_data(), code="REFRESH_REVOKED")))
    with pytest.raises(APIError) as caught:
        await harness.call("refresh", old_tokens())
    assert caught.value.code == "REFRESH_REVOKED"
    assert caught.value.status == 200


async def test_api_error_text_is_cleaned_and_truncated(harness: Harness) -> None:
    body = envelope(None, kind="ERROR", code="E\r\nX" + "C" * 100, message="a\nb\x1b" + "m" * 500)
    harness.reply(lambda request: answer(body, 400))
    with pytest.raises(APIError) as caught:
        await harness.call("exchange", TEMP)
    assert not any(c in caught.value.code for c in "\r\n")
    assert len(caught.value.code) <= 64
    assert not any(c in caught.value.message for c in "\n\x1b")
    assert len(caught.value.message) <= 200


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
async def test_json_content_types_are_accepted(harness: Harness, content_type: str) -> None:
    harness.reply(lambda request: answer(envelope(token_data()), content_type=content_type))
    assert (await harness.call("exchange", TEMP)).access_token == NEW_ACCESS


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<html>Service unavailable</html>", "text/html", 200),
        (json.dumps(envelope({})).encode(), "text/html", 200),
        (json.dumps(envelope({})).encode(), "", 200),
        (b"not json at all", "application/json", 200),
        (b'{"messageType": "SUCCESS", ', "application/json", 200),
        (b"\xff\xfe\x00garbage", "application/json", 200),
        (b"[]", "application/json", 200),
        (b'"SUCCESS"', "application/json", 200),
        (b"1", "application/json", 200),
        (b"null", "application/json", 200),
        (b"", "application/json", 200),
        (json.dumps({"errorCode": "OK", "data": {}}).encode(), "application/json", 200),
        (json.dumps({**envelope({}), "messageType": "OK"}).encode(), "application/json", 200),
        (json.dumps({**envelope({}), "errorCode": None}).encode(), "application/json", 200),
        (json.dumps({**envelope({}), "errorCode": ""}).encode(), "application/json", 200),
        (json.dumps(envelope([1, 2])).encode(), "application/json", 200),
        (json.dumps(envelope("data")).encode(), "application/json", 200),
        (json.dumps(envelope(token_data())).encode(), "application/json", 500),
        (json.dumps(envelope(token_data())).encode(), "application/json", 404),
    ],
)
async def test_malformed_answers_are_protocol_errors(
    harness: Harness, body: bytes, content_type: str, status: int
) -> None:
    harness.reply(lambda request: answer(body, status, content_type))
    with pytest.raises(ProtocolError) as caught:
        await harness.call("exchange", TEMP)
    assert caught.value.status == status
    assert_clean(caught.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_errors_and_not_followed(harness: Harness, status: int) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host != "redtrust.example":
            return answer(envelope(token_data()))
        return answer(
            envelope(token_data()), status, headers={"location": "https://evil.example/steal"}
        )

    harness.reply(handler)
    with pytest.raises(ProtocolError) as caught:
        await harness.call("refresh", old_tokens())
    assert caught.value.status == status
    assert harness.upstream.calls == 1
    assert_clean(caught.value)


async def test_body_over_the_limit_with_content_length(harness: Harness) -> None:
    data = {**token_data(), "padding": "x" * 2000}
    harness.configure(max_response_bytes=1024).reply(lambda request: answer(envelope(data)))
    with pytest.raises(ProtocolError):
        await harness.call("exchange", TEMP)


async def test_body_over_the_limit_without_content_length(harness: Harness) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        response = answer(envelope({**token_data(), "padding": "x" * 2000}))
        del response.headers["content-length"]
        return response

    harness.configure(max_response_bytes=1024).reply(handler)
    with pytest.raises(ProtocolError):
        await harness.call("exchange", TEMP)


async def test_body_at_the_limit_is_accepted(harness: Harness) -> None:
    base = json.dumps(envelope({**token_data(), "padding": ""})).encode()
    data = {**token_data(), "padding": "x" * (1024 - len(base))}
    assert len(json.dumps(envelope(data)).encode()) == 1024
    harness.configure(max_response_bytes=1024).reply(lambda request: answer(envelope(data)))
    assert (await harness.call("exchange", TEMP)).access_token == NEW_ACCESS


async def test_gzip_bomb_is_cut_off(harness: Harness) -> None:
    bomb = gzip.compress(b'{"a": "' + b"0" * (8 * 1024 * 1024) + b'"}')
    assert len(bomb) < 64 * 1024  # small on the wire, 8 MiB once decoded

    def handler(request: httpx2.Request) -> httpx2.Response:
        return answer(bomb, content_type="application/json", headers={"content-encoding": "gzip"})

    harness.reply(handler)
    with pytest.raises(ProtocolError) as caught:
        await harness.call("exchange", TEMP)
    assert "large" in str(caught.value)


async def test_gzip_encoded_small_answer_is_decoded(harness: Harness) -> None:
    packed = gzip.compress(json.dumps(envelope(token_data())).encode())
    harness.reply(lambda request: answer(packed, headers={"content-encoding": "gzip"}))
    assert (await harness.call("exchange", TEMP)).access_token == NEW_ACCESS


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,
        b'{"messageType": "SUCCESS", "errorCode": "OK", "data": {"a": ' + b"[" * 200_000,
    ],
)
async def test_deeply_nested_json_is_a_protocol_error(harness: Harness, body: bytes) -> None:
    harness.reply(lambda request: answer(body))
    with pytest.raises(ProtocolError):
        await harness.call("exchange", TEMP)


@pytest.mark.parametrize(
    "expiration", [b'"9999-12-31T23:59:59-01:00"', b'"0001-01-01T00:00:00+01:00"', b"1" * 400]
)
async def test_hostile_expiration_is_a_library_error(harness: Harness, expiration: bytes) -> None:
    body = (
        b'{"messageType": "SUCCESS", "errorCode": "OK", "data": {"accessToken": "abc",'
        b' "expiration": ' + expiration + b"}}"
    )
    harness.reply(lambda request: answer(body))
    with pytest.raises(RedtrustError):
        await harness.call("exchange", TEMP)


# --- transport failures and retries ---------------------------------------------------------


def refuse(exception: type[httpx2.TransportError]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exception("simulated", request=request)

    return handler


@pytest.mark.parametrize("retries", [0, 1, 2])
@pytest.mark.parametrize("exception", [httpx2.ConnectError, httpx2.ConnectTimeout])
async def test_connect_errors_are_retried_at_most_connect_retries_times(
    harness: Harness, retries: int, exception: type[httpx2.TransportError]
) -> None:
    harness.configure(connect_retries=retries).reply(refuse(exception))
    with pytest.raises(TransportError) as caught:
        await harness.call("exchange", TEMP)
    assert harness.upstream.calls == retries + 1
    assert caught.value.reached_server is False
    assert not isinstance(caught.value, UpstreamTimeout)
    assert caught.value.http_status == 503
    assert_clean(caught.value)


async def test_a_retry_after_a_refused_connection_is_signed_afresh(harness: Harness) -> None:
    harness.clock.step = 1.0
    attempts: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx2.ConnectError("refused", request=request)
        return answer(envelope(token_data()))

    harness.reply(handler)
    tokens = await harness.call("exchange", TEMP)
    assert tokens.access_token == NEW_ACCESS
    assert harness.upstream.calls == 2
    first, second = (int(r.headers["x-request-timestamp"]) for r in attempts)
    assert second > first
    check_signed(attempts[0], first)
    check_signed(attempts[1], second)


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
async def test_read_timeout_is_not_retried(harness: Harness, operation: str) -> None:
    harness.configure(connect_retries=2).reply(refuse(httpx2.ReadTimeout))
    argument: Any = TEMP if operation == "exchange" else old_tokens()
    with pytest.raises(UpstreamTimeout) as caught:
        await harness.call(operation, argument)
    assert harness.upstream.calls == 1
    assert caught.value.reached_server is True
    assert caught.value.operation == operation
    assert_clean(caught.value)


@pytest.mark.parametrize(
    "exception", [httpx2.ReadError, httpx2.RemoteProtocolError, httpx2.WriteError]
)
async def test_failures_after_sending_are_not_retried(
    harness: Harness, exception: type[httpx2.TransportError]
) -> None:
    harness.reply(refuse(exception))
    with pytest.raises(TransportError) as caught:
        await harness.call("refresh", old_tokens())
    assert harness.upstream.calls == 1
    assert caught.value.reached_server is True
    assert not isinstance(caught.value, UpstreamTimeout)


async def test_unrepeatable_call_with_lost_answer_is_outcome_unknown(harness: Harness) -> None:
    request = ApiRequest(
        operation="csr_create",
        method="POST",
        url=f"{SERVER}:8083/raapi/v1/csr/create",
        json_body={"dn": []},
        unrepeatable=True,
    )
    call: Call[Any] = Call(request=request, parse=lambda raw, now: parse_envelope(raw, "x"))
    harness.reply(refuse(httpx2.ReadTimeout))
    with pytest.raises(OutcomeUnknownError) as caught:
        await harness.call("send", call)
    assert harness.upstream.calls == 1
    assert caught.value.operation == "csr_create"
    # A refused connection never reached the server: even an unrepeatable call is retried.
    harness.configure(connect_retries=1).reply(refuse(httpx2.ConnectError))
    with pytest.raises(TransportError):
        await harness.call("send", call)
    assert harness.upstream.calls == 1 + 2


# --- invalid inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "temp_token",
    [
        "",
        "x" * 1025,
        "has space",
        "line\nbreak",
        "nul\x00",
        "<script>",
        "tök",
        "a%20b",
        "a&b=c",
        None,
        123,
    ],
)
async def test_invalid_temp_tokens_are_refused_before_sending(
    harness: Harness, temp_token: object
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await harness.call("exchange", temp_token)
    assert harness.upstream.calls == 0
    assert caught.value.field == "temp_token"
    if isinstance(temp_token, str) and temp_token:
        assert_clean(caught.value, temp_token)


async def test_longest_temp_token_is_accepted(harness: Harness) -> None:
    await harness.call("exchange", "t" * 1024)
    assert body_of(harness.upstream.last) == {"temporalToken": "t" * 1024}


@pytest.mark.parametrize(
    ("username", "password", "domain", "field_name"),
    [
        ("", "pw", None, "username"),
        ("u" * 257, "pw", None, "username"),
        ("ali\x00ce", "pw", None, "username"),
        ("alice\r\nX-Injected: 1", "pw", None, "username"),
        ("alice", "", None, "password"),
        ("alice", "p\tw", None, "password"),
        ("alice", "p\x7fw", None, "password"),
        ("alice", "pw", "", "domain"),
        ("alice", "pw", "dom\nain", "domain"),
        (None, "pw", None, "username"),
    ],
)
async def test_invalid_login_inputs_are_refused_before_sending(
    harness: Harness, username: object, password: object, domain: object, field_name: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await harness.call("login", username, password, domain)
    assert harness.upstream.calls == 0
    assert caught.value.field == field_name
    assert_clean(caught.value, "p\tw", "p\x7fw", "ali\x00ce")


# --- no secrets in reprs, errors or logs ----------------------------------------------------


async def test_reprs_never_show_tokens_or_the_secret(harness: Harness) -> None:
    config = harness.config()
    with Client(config, transport=httpx2.MockTransport(tokens_ok)) as client:
        calls = client.calls
        built = (calls.exchange(TEMP), calls.refresh(old_tokens()), calls.login("u", "hunter2"))
        for call in built:
            text = f"{call!r} {call.request!r}"
            for value in (TEMP, ACCESS, REFRESH, SECRET, "hunter2"):
                assert value not in text
        assert SECRET not in repr(client)
    tokens = await harness.call("exchange", TEMP)
    assert NEW_ACCESS not in repr(tokens)
    assert NEW_REFRESH not in repr(tokens)
    assert SECRET not in repr(config)


async def test_logs_never_show_tokens_headers_or_the_secret(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.configure(profile=RA_API)
    with caplog.at_level(logging.DEBUG):
        await harness.call("exchange", TEMP)
        await harness.call("refresh", old_tokens())
        await harness.call("login", "alice", "hunter2")
        harness.reply(lambda request: answer(envelope({})))
        await harness.call("logout", old_tokens())
        harness.reply(refuse(httpx2.ReadTimeout))
        with pytest.raises(UpstreamTimeout):
            await harness.call("refresh", old_tokens())
    signatures = {r.headers["x-hmac-signature"] for r in harness.upstream.requests}
    for record in caplog.records:
        text = record.getMessage()
        for value in (SECRET, TEMP, ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH, "hunter2"):
            assert value not in text
        for signature in signatures:
            assert signature not in text
    # The same in each record's arguments and its fields (extra=), which JSON logs emit.
    secrets = [SECRET, TEMP, ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH, "hunter2", *signatures]
    assert scan(caplog.records, secrets) >= 6
    assert {f["operation"] for f in of(caplog.records, "redtrust.call")} >= {"exchange", "login"}
