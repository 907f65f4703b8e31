"""The sans-IO login flow: ``next`` validation, the signed login URL, the callback, nonces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.exceptions import InvalidCallbackError, LoginExpiredError
from redtrust_middleware.login import (
    CallbackParams,
    Freshness,
    PendingLogin,
    build_login_url,
    freshness,
    is_handle,
    is_local_path,
    login_redirect_url,
    new_handle,
    nonce_cookie_value,
    parse_callback,
    parse_nonce_cookie,
    pick_pending,
    validate_next,
)
from redtrust_middleware.tokens import TokenSet

SECRET = "flow-test-shared-secret-0123456789"
DEFAULT = "/home"
CALLBACK = "https://app.example/redtrust/callback"


def make_config(**overrides: Any) -> RedtrustConfig:
    values: dict[str, Any] = {
        "server_url": "https://redtrust.example",
        "partner": "CA_DEMO",
        "shared_secret": SECRET,
        "default_next": DEFAULT,
    }
    values.update(overrides)
    return RedtrustConfig(**values)


CONFIG = make_config()
WITH_ORIGINS = make_config(
    allowed_next_origins=("https://app.example", "https://admin.example:8443")
)
#: A site at https://app.example: absolute URLs there are its own pages.
ON_SITE = make_config(public_url="https://app.example")


def handle() -> str:
    """A handle made without the library: 32 random bytes, URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


def expected_hmac(partner: str, timestamp: int) -> str:
    return hmac.new(
        SECRET.encode("utf-8"), f"{partner}:{timestamp}".encode(), hashlib.sha256
    ).hexdigest()


def refused(query: str | bytes, code: str, *, expect_nonce: bool = False) -> InvalidCallbackError:
    with pytest.raises(InvalidCallbackError) as caught:
        parse_callback(query, expect_nonce=expect_nonce)
    assert caught.value.code == code, caught.value
    assert caught.value.http_status == 400
    return caught.value


# --- validate_next (THREATS 13-16) ----------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "//evil.example/path",
    "https://evil.example",
    "https://evil.example/",
    "http://evil.example",
    "/\\evil.example",
    "\\\\evil",
    "\\/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " /dashboard",
    "  //evil.example",
    "/dashboard ",
    "/dash board",
    "/dash\x00board",
    "/dash\x7fboard",
    "/dash\x0bboard",
    "\n/dashboard",
    "\uff0fevil.example",  # fullwidth solidus
    "/\uff0f\uff0fevil.example",
    "/\u2215evil.example",  # division slash
    "/caf\u00e9",
    "/\u202eevil",  # right-to-left override
    "evil.example",
    "dashboard",
    "?next=//evil",
    "#frag",
    "",
    None,
]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
@pytest.mark.parametrize("config", [CONFIG, WITH_ORIGINS], ids=["no-origins", "origins"])
def test_hostile_next_falls_back_to_the_default(value: str | None, config: RedtrustConfig) -> None:
    assert validate_next(value, config) == DEFAULT


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/dashboard",
        "/search?q=a%20b&x=%2F%2F&y=%5C",
        "/%09/evil",
        "/%2F%2Fevil.example",
        "/a/b;c=d?e=f&g=h#frag",
        "/path/with.dots/../and~tilde",
        "/?next=https://evil.example",
        "/%E2%82%AC",
    ],
)
def test_same_origin_paths_survive_byte_for_byte(value: str) -> None:
    result = validate_next(value, CONFIG)
    assert result == value
    assert result.encode() == value.encode()


def test_length_cap() -> None:
    longest = "/" + "a" * 2047
    assert validate_next(longest, CONFIG) == longest
    assert validate_next(longest + "a", CONFIG) == DEFAULT
    # Huge NFKC-heavy input is refused by the cap, not parsed.
    assert validate_next("/" + "\ufb01" * 100_000, CONFIG) == DEFAULT


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example",
        "https://app.example/",
        "https://app.example/x?y=1&z=%2F#f",
        "https://app.example:443/x",
        "https://APP.EXAMPLE/x",
        "https://admin.example:8443/panel",
    ],
)
def test_absolute_urls_on_configured_origins_are_accepted(value: str) -> None:
    assert validate_next(value, WITH_ORIGINS) == value
    assert validate_next(value, CONFIG) == DEFAULT


@pytest.mark.parametrize(
    "value",
    [
        "http://app.example/x",
        "https://app.example:8443/x",
        "https://admin.example/panel",
        "https://admin.example:443/panel",
        "https://user@app.example/x",
        "https://user:pw@app.example/x",
        "https://app.example@evil.example/x",
        "https://app.example.evil.example/x",
        "https://evil.example#@app.example",
        "https://evil.example?@app.example",
        "https://app.example:99999/x",
        "https://app.example:port/x",
        "https:app.example/x",
        "https:/app.example/x",
        "ftp://app.example/x",
        "wss://app.example/x",
    ],
)
def test_absolute_urls_elsewhere_are_refused(value: str) -> None:
    assert validate_next(value, WITH_ORIGINS) == DEFAULT
    assert validate_next(value, ON_SITE) == DEFAULT


@pytest.mark.parametrize(
    ("value", "local"),
    [
        # Starlette's requires(redirect=...) sends next as the request's full URL.
        ("https://app.example/account?next=%2Fx", "/account?next=%2Fx"),
        ("https://app.example/x?y=1&z=%2F#f", "/x?y=1&z=%2F#f"),
        ("https://APP.EXAMPLE:443/x", "/x"),
        ("https://app.example", "/"),
    ],
)
def test_absolute_urls_on_public_urls_origin_are_its_local_paths(value: str, local: str) -> None:
    assert validate_next(value, ON_SITE) == local


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example//evil.example/x",
        "https://app.example/\\evil.example",
        "https://app.example?x=1",
        "http://app.example/x",
        "https://app.example:8443/x",
    ],
)
def test_absolute_urls_on_public_urls_origin_that_are_no_local_path_are_refused(
    value: str,
) -> None:
    assert validate_next(value, ON_SITE) == DEFAULT


@given(st.text(max_size=80))
def test_property_on_site_next_is_the_default_or_a_local_path_it_ends_with(value: str) -> None:
    result = validate_next(value, ON_SITE)
    assert result == DEFAULT or (is_local_path(result) and value.endswith(result))


@given(st.text(max_size=80))
def test_property_validate_next_returns_the_input_or_the_default(value: str) -> None:
    result = validate_next(value, WITH_ORIGINS)
    assert result in (value, DEFAULT)
    if result == value:
        assert value.isascii()
        assert not re.search(r"[\x00-\x20\x7f\\]", value)
        if value.startswith("/"):
            assert not value.startswith("//")
        else:
            parts = urlsplit(value)
            assert parts.scheme == "https"
            assert parts.hostname in ("app.example", "admin.example")


@given(st.from_regex(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]{0,60}", fullmatch=True))
def test_property_local_paths_without_double_slash_start_survive(value: str) -> None:
    expected = DEFAULT if value.startswith("//") else value
    assert validate_next(value, CONFIG) == expected


# --- build_login_url ------------------------------------------------------------------------

DOC_PREFIX = (
    "https://localhost:8083/authclient/auth/loginrequest?Consumer=RA_API&Domain=local.users"
    "&RedirectUrl=https%3A%2F%2Fgoogle.es%3Ftkn%3D&timestamp=1744719496&partner=CA_DEMO&hmac="
)


def test_reproduces_the_tutorials_example() -> None:
    config = make_config(
        server_url="https://localhost:8083", partner="CA_DEMO", domain="local.users"
    )
    url = build_login_url(config, redirect_url="https://google.es?tkn=", now=1_744_719_496.9)
    # The secret is not published: everything up to the hmac value is the documented URL.
    assert url.startswith(DOC_PREFIX)
    signature = url[len(DOC_PREFIX) :]
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    assert signature == expected_hmac("CA_DEMO", 1_744_719_496)


def test_parameter_names_order_and_values() -> None:
    config = make_config(domain="local.users", consumer="SIGN_SERVICE")
    redirect = "https://app.example/cb?state=abc&tkn="
    url = build_login_url(config, redirect_url=redirect, now=1_800_000_000.5)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "redtrust.example:8083",
        "/authclient/auth/loginrequest",
    )
    params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    assert params == [
        ("Consumer", "SIGN_SERVICE"),
        ("Domain", "local.users"),
        ("RedirectUrl", redirect),
        ("timestamp", "1800000000"),
        ("partner", "CA_DEMO"),
        ("hmac", expected_hmac("CA_DEMO", 1_800_000_000)),
    ]
    assert not parts.fragment


def test_domain_is_optional() -> None:
    url = build_login_url(CONFIG, redirect_url=CALLBACK, now=1_800_000_000)
    names = [name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    assert names == ["Consumer", "RedirectUrl", "timestamp", "partner", "hmac"]


@pytest.mark.parametrize(
    "redirect",
    [
        "https://app.example/cb?a=1&b=2&tkn=",
        "https://app.example/c b#frag?x=y+z",
        "https://app.example/caf\u00e9/\u65e5\u672c?tkn=",
        "https://app.example/%2F/x?tkn=",
    ],
)
def test_redirect_url_is_fully_percent_encoded(redirect: str) -> None:
    url = build_login_url(CONFIG, redirect_url=redirect, now=1_800_000_000)
    raw = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))
    assert re.fullmatch(r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*", raw["RedirectUrl"])
    assert raw["RedirectUrl"] == quote(redirect, safe="")
    assert dict(parse_qsl(urlsplit(url).query))["RedirectUrl"] == redirect


def test_each_url_is_signed_with_the_time_it_was_built() -> None:
    first = build_login_url(CONFIG, redirect_url=CALLBACK, now=1_800_000_000)
    later = build_login_url(CONFIG, redirect_url=CALLBACK, now=1_800_000_042.99)
    values = dict(parse_qsl(urlsplit(later).query))
    assert values["timestamp"] == "1800000042"
    assert values["hmac"] == expected_hmac("CA_DEMO", 1_800_000_042)
    assert first != later


# --- login_redirect_url ---------------------------------------------------------------------


def test_login_redirect_url_with_nonce() -> None:
    nonce = handle()
    assert login_redirect_url(CONFIG, CALLBACK, nonce) == f"{CALLBACK}?state={nonce}&tkn="
    assert (
        login_redirect_url(CONFIG, CALLBACK + "?lang=es", nonce)
        == f"{CALLBACK}?lang=es&state={nonce}&tkn="
    )


def test_login_redirect_url_without_nonce() -> None:
    config = make_config(nonce_in_redirect=False)
    assert login_redirect_url(config, CALLBACK, handle()) == CALLBACK


def test_redtrust_appending_the_token_gives_a_valid_callback() -> None:
    nonce = handle()
    landed = login_redirect_url(CONFIG, CALLBACK, nonce) + "TEMP.token-123"
    params = parse_callback(urlsplit(landed).query, expect_nonce=True)
    assert (params.temp_token, params.nonce) == ("TEMP.token-123", nonce)


# --- parse_callback (THREATS 1-4) -----------------------------------------------------------


@pytest.mark.parametrize("form", [str, lambda q: q.encode("ascii")])
def test_valid_callback_is_accepted(form: Any) -> None:
    nonce = handle()
    params = parse_callback(form(f"tkn=abc.DEF-123_~%2B%2F%3D&state={nonce}"), expect_nonce=True)
    assert params == CallbackParams(temp_token="abc.DEF-123_~+/=", nonce=nonce)
    plain = parse_callback(form("tkn=abc123&other=1"), expect_nonce=False)
    assert (plain.temp_token, plain.nonce) == ("abc123", None)


def test_callback_params_repr_hides_the_token() -> None:
    params = parse_callback("tkn=very-secret-temp-token", expect_nonce=False)
    assert "very-secret-temp-token" not in repr(params)


def test_longest_token_is_accepted() -> None:
    assert parse_callback("tkn=" + "a" * 1024, expect_nonce=False).temp_token == "a" * 1024


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "MISSING_PARAM"),
        ("foo=bar", "MISSING_PARAM"),
        ("tk=abc", "MISSING_PARAM"),
        ("tkn=", "EMPTY_PARAM"),
        ("tkn", "EMPTY_PARAM"),
        ("TKN=abc", "MALFORMED"),
        ("Tkn=abc", "MALFORMED"),
        ("tKn=abc", "MALFORMED"),
        ("tkn=abc&TKN=def", "MALFORMED"),
        ("tkn=abc&State=x", "MALFORMED"),
    ],
)
def test_missing_empty_and_variant_tkn(query: str, code: str) -> None:
    refused(query, code)


@pytest.mark.parametrize(
    "query",
    [
        "tkn=a&tkn=b",
        "tkn=a&tkn=a",
        "tkn=a&tkn=",
        "tkn=&tkn=b",
        "%74kn=a&tkn=b",
        "tkn=a&x=1&tkn=b",
    ],
)
def test_duplicated_tkn_is_refused(query: str) -> None:
    refused(query, "DUPLICATE_PARAM")


def test_duplicated_state_is_refused() -> None:
    nonce = handle()
    refused(f"tkn=abc&state={nonce}&state={nonce}", "DUPLICATE_PARAM", expect_nonce=True)
    refused(f"tkn=abc&state={nonce}&state={handle()}", "DUPLICATE_PARAM", expect_nonce=False)


def test_state_is_required_when_expected_and_must_be_a_handle() -> None:
    refused("tkn=abc", "MISSING_PARAM", expect_nonce=True)
    refused("tkn=abc&state=", "EMPTY_PARAM", expect_nonce=True)
    for bad in ("short", handle() + "x", handle()[:-1] + "!", "../" + handle()[3:]):
        refused(f"tkn=abc&state={quote(bad, safe='')}", "MALFORMED", expect_nonce=True)


def test_oversized_query_is_refused_before_parsing() -> None:
    refused("tkn=abc&pad=" + "x" * 4096, "OVERSIZED")
    refused(b"tkn=abc&pad=" + b"\xff" * 4096, "OVERSIZED")  # size is checked before decoding
    refused("tkn=" + "a" * 1025, "OVERSIZED")


def test_too_many_fields_is_refused() -> None:
    refused("tkn=abc&" + "&".join(f"p{i}=1" for i in range(16)), "MALFORMED")


@pytest.mark.parametrize(
    "query",
    [
        "tkn=abc%00def",
        "tkn=abc%0D%0ASet-Cookie:%20x=1",
        "tkn=abc%0Adef",
        "tkn=abc%E2%80%AEdef",  # RIGHT-TO-LEFT OVERRIDE
        "tkn=abc%E2%81%A6def",  # LEFT-TO-RIGHT ISOLATE
        "tkn=%3Cscript%3Ealert(1)%3C/script%3E",
        "tkn=<b>bold</b>",
        "tkn=%22%3E%3Cimg%20src=x%3E",
        "tkn=abc%ffdef",
        "tkn=%c3%28",
        "tkn=abc%20def",
        "tkn=abc;def",
        "tkn=abc%25def",
        "tkn=caf\u00e9",
        "tkn=\uff41\uff42",
    ],
)
def test_garbage_tokens_are_refused_and_never_echoed(query: str) -> None:
    error = refused(query, "MALFORMED")
    value = query.partition("=")[2]
    assert value not in str(error)
    assert value not in repr(error)


@pytest.mark.parametrize("raw", [b"tkn=caf\xc3\xa9", b"tkn=abc\xff", b"tkn=abc\x80def"])
def test_non_ascii_bytes_are_refused(raw: bytes) -> None:
    refused(raw, "MALFORMED")


@pytest.mark.parametrize("query", ["tkn=../../etc/passwd", "tkn=..%2F..%2Fadmin"])
def test_path_traversal_tokens_are_refused(query: str) -> None:
    refused(query, "MALFORMED")


# --- pick_pending ---------------------------------------------------------------------------


def test_pick_pending_without_any_login_in_this_browser() -> None:
    for nonce in (None, handle()):
        with pytest.raises(LoginExpiredError) as caught:
            pick_pending(CallbackParams(temp_token="t", nonce=nonce), [])
        assert caught.value.code == "NO_PENDING_LOGIN"


def test_pick_pending_refuses_a_foreign_nonce() -> None:
    with pytest.raises(LoginExpiredError) as caught:
        pick_pending(CallbackParams(temp_token="t", nonce=handle()), [handle(), handle()])
    assert caught.value.code == "FOREIGN_LOGIN"


def test_pick_pending_takes_the_echoed_nonce_even_if_older() -> None:
    nonces = [handle(), handle(), handle()]
    assert pick_pending(CallbackParams(temp_token="t", nonce=nonces[0]), nonces) == nonces[0]


def test_pick_pending_takes_the_newest_without_state() -> None:
    nonces = [handle(), handle(), handle()]
    assert pick_pending(CallbackParams(temp_token="t", nonce=None), nonces) == nonces[-1]


# --- nonces and the pending-login cookie ----------------------------------------------------


def test_new_handles_are_256_bit_url_safe_and_unique() -> None:
    handles = {new_handle() for _ in range(200)}
    assert len(handles) == 200
    for value in handles:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
        assert is_handle(value)


def test_parse_nonce_cookie_drops_malformed_values() -> None:
    a, b, c = handle(), handle(), handle()
    cookie = ".".join([a, "junk", "", b, a[:-1], c + "x", "!" * 43, c])
    assert parse_nonce_cookie(cookie, limit=10) == [a, b, c]
    assert parse_nonce_cookie(None, limit=5) == []
    assert parse_nonce_cookie("", limit=5) == []
    assert parse_nonce_cookie("junk.more", limit=5) == []


def test_parse_nonce_cookie_keeps_the_newest() -> None:
    nonces = [handle() for _ in range(7)]
    cookie = nonce_cookie_value(nonces)
    assert cookie == ".".join(nonces)
    assert parse_nonce_cookie(cookie, limit=5) == nonces[2:]
    assert parse_nonce_cookie(cookie, limit=1) == nonces[-1:]
    assert parse_nonce_cookie(cookie, limit=7) == nonces


def test_parse_nonce_cookie_with_zero_limit_keeps_none() -> None:
    assert parse_nonce_cookie(nonce_cookie_value([handle(), handle()]), limit=0) == []


def test_pending_login_round_trip_and_repr() -> None:
    nonce = handle()
    pending = PendingLogin(nonce=nonce, next_url="/dashboard?x=1", created_at=1_800_000_000.5)
    raw = pending.to_json()
    assert nonce.encode() not in raw
    assert nonce not in repr(pending)
    assert PendingLogin.from_json(nonce, raw) == pending
    for bad in (b"", b"not json", b"[]", b'{"next": 1, "created": 2}', b'{"next": "/"}'):
        assert PendingLogin.from_json(nonce, bad) is None


# --- freshness ------------------------------------------------------------------------------


def tokens_expiring_at(seconds: int) -> TokenSet:
    return TokenSet(
        access_token="a",
        refresh_token="r",
        expires_at=datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (1_000, Freshness.FRESH),
        (1_939, Freshness.FRESH),
        (1_940, Freshness.DUE),
        (1_999.5, Freshness.DUE),
        (2_000, Freshness.EXPIRED),
        (5_000, Freshness.EXPIRED),
    ],
)
def test_freshness(now: float, expected: Freshness) -> None:
    assert freshness(tokens_expiring_at(2_000), now, leeway=60) is expected


def test_freshness_with_zero_leeway() -> None:
    tokens = tokens_expiring_at(2_000)
    assert freshness(tokens, 1_999.9, leeway=0) is Freshness.FRESH
    assert freshness(tokens, 2_000, leeway=0) is Freshness.EXPIRED


def test_a_plus_in_the_token_is_a_plus_not_a_space() -> None:
    # Redtrust appends the raw token to RedirectUrl: base64's '+' must survive as itself.
    params = parse_callback("tkn=ab+cd/ef==", expect_nonce=False)
    assert params.temp_token == "ab+cd/ef=="
    assert parse_callback("tkn=ab%2Bcd", expect_nonce=False).temp_token == "ab+cd"
