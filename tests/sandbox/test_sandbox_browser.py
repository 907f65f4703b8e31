"""The sandbox's browser login: the signed login link, the sign-in form and the return leg.

Signatures are computed here with ``hmac``/``hashlib``, independently of the code under test.
"""

from __future__ import annotations

import logging
import re

import httpx2
import pytest

from redtrust_middleware.sandbox import Sandbox, SandboxConfig

from ._support import (
    FORM_PATH,
    LOGIN_PATH,
    OTHER_SECRET,
    SECRET,
    START,
    FakeClock,
    attempt_of,
    exchange,
    hmac_hex,
    login_params,
    token_data,
)


def assert_error_page(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert f"<code>{code}</code>" in response.text


def open_form(client: httpx2.Client, **overrides: str | None) -> str:
    response = client.get(LOGIN_PATH, params=login_params(**overrides))
    assert response.status_code == 200, response.text
    return attempt_of(response.text)


def submit(
    client: httpx2.Client, attempt: str, username: str = "alice", password: str = "wonderland"
) -> httpx2.Response:
    form = {"attempt": attempt, "username": username, "password": password}
    return client.post(FORM_PATH, data=form)


# -- the happy path ----------------------------------------------------------------------------


def test_login_page_is_a_clean_locked_down_form(client: httpx2.Client) -> None:
    response = client.get(LOGIN_PATH, params=login_params())
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "style-src 'unsafe-inline'" in csp
    assert "form-action 'self' https://app.example;" in csp
    assert "<title>Redtrust sandbox \u2014 sign in</title>" in response.text
    assert "<strong>CA_DEMO</strong>" in response.text
    assert f'action="{FORM_PATH}"' in response.text
    assert 'name="username"' in response.text
    assert 'name="password" type="password"' in response.text
    assert len(attempt_of(response.text)) >= 32


@pytest.mark.parametrize(
    ("redirect_url", "expected_prefix"),
    [
        ("https://app.example/callback?tkn=", "https://app.example/callback?tkn="),
        ("https://app.example/callback", "https://app.example/callback?tkn="),
        (
            "https://app.example/callback?next=%2Fhome",
            "https://app.example/callback?next=%2Fhome&tkn=",
        ),
    ],
)
def test_form_redirects_back_with_the_token_appended(
    client: httpx2.Client, redirect_url: str, expected_prefix: str
) -> None:
    attempt = open_form(client, RedirectUrl=redirect_url)
    response = submit(client, attempt)
    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(expected_prefix)
    token = location[len(expected_prefix) :]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_sign_service_consumer_and_domain_are_accepted(client: httpx2.Client) -> None:
    attempt = open_form(client, Consumer="SIGN_SERVICE", Domain="local.users")
    assert submit(client, attempt).status_code == 302


def test_wrong_password_rerenders_the_form_and_keeps_the_attempt(client: httpx2.Client) -> None:
    attempt = open_form(client)
    response = submit(client, attempt, password="nope")
    assert response.status_code == 401
    assert "Invalid username or password" in response.text
    assert attempt_of(response.text) == attempt
    assert response.headers["x-frame-options"] == "DENY"
    assert submit(client, attempt, username="mallory").status_code == 401
    assert submit(client, attempt).status_code == 302


def test_attempt_is_single_use(client: httpx2.Client) -> None:
    attempt = open_form(client)
    assert submit(client, attempt).status_code == 302
    assert_error_page(submit(client, attempt), 400, "INVALID_LOGIN_ATTEMPT")


def test_unknown_attempt(client: httpx2.Client) -> None:
    assert_error_page(submit(client, "x" * 43), 400, "INVALID_LOGIN_ATTEMPT")


def test_attempt_expires(client: httpx2.Client, clock: FakeClock) -> None:
    attempt = open_form(client)
    clock.advance(600)
    assert_error_page(submit(client, attempt), 400, "EXPIRED_LOGIN_ATTEMPT")


def test_attempt_alive_just_before_expiry(client: httpx2.Client, clock: FakeClock) -> None:
    attempt = open_form(client)
    clock.advance(599)
    assert submit(client, attempt).status_code == 302


@pytest.mark.parametrize(
    "form",
    [
        {"username": "alice", "password": "wonderland"},
        {"attempt": "", "username": "alice", "password": "wonderland"},
        {"attempt": "a"},
    ],
)
def test_form_with_missing_fields(client: httpx2.Client, form: dict[str, str]) -> None:
    assert_error_page(client.post(FORM_PATH, data=form), 400, "INVALID_REQUEST")


def test_form_with_duplicated_field(client: httpx2.Client) -> None:
    attempt = open_form(client)
    body = f"attempt={attempt}&username=alice&username=bob&password=wonderland"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post(FORM_PATH, content=body, headers=headers)
    assert_error_page(response, 400, "INVALID_REQUEST")
    assert "parameter &#x27;username&#x27;" in response.text


def test_form_must_be_urlencoded(client: httpx2.Client) -> None:
    attempt = open_form(client)
    response = client.post(FORM_PATH, json={"attempt": attempt})
    assert_error_page(response, 400, "INVALID_REQUEST")


def test_form_with_bad_utf8(client: httpx2.Client) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post(FORM_PATH, content=b"attempt=%ff&username=a&password=b", headers=headers)
    assert_error_page(response, 400, "INVALID_REQUEST")


# -- the login link's errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "status", "code"),
    [
        ("Consumer", 400, "INVALID_REQUEST"),
        ("RedirectUrl", 400, "INVALID_REQUEST"),
        ("timestamp", 401, "MISSING_SIGNATURE"),
        ("partner", 401, "MISSING_SIGNATURE"),
        ("hmac", 401, "MISSING_SIGNATURE"),
    ],
)
def test_missing_parameter(client: httpx2.Client, missing: str, status: int, code: str) -> None:
    response = client.get(LOGIN_PATH, params=login_params(**{missing: None}))
    assert_error_page(response, status, code)


@pytest.mark.parametrize(
    "name", ["Consumer", "Domain", "RedirectUrl", "timestamp", "partner", "hmac"]
)
def test_duplicated_parameter(client: httpx2.Client, name: str) -> None:
    single = login_params(Domain="local.users")
    params: list[tuple[str, str | int | float | bool | None]] = [*single.items()]
    params.append((name, single[name]))
    response = client.get(LOGIN_PATH, params=params)
    assert_error_page(response, 400, "INVALID_REQUEST")
    assert f"parameter &#x27;{name}&#x27;" in response.text


def test_parameter_names_are_case_sensitive(client: httpx2.Client) -> None:
    params = login_params(Consumer=None)
    params["consumer"] = "RA_API"
    assert_error_page(client.get(LOGIN_PATH, params=params), 400, "INVALID_REQUEST")
    params = login_params(timestamp=None)
    params["Timestamp"] = str(START)
    assert_error_page(client.get(LOGIN_PATH, params=params), 401, "MISSING_SIGNATURE")


def test_unknown_consumer(client: httpx2.Client) -> None:
    response = client.get(LOGIN_PATH, params=login_params(Consumer="ra_api"))
    assert_error_page(response, 400, "INVALID_CONSUMER")


def test_empty_domain_is_treated_as_absent(sandbox: Sandbox, client: httpx2.Client) -> None:
    # Domain is optional (redtrust-api.md §2): "Domain=" from a link template means none.
    response = client.get(LOGIN_PATH, params=login_params(Domain=""))
    assert response.status_code == 200
    assert "in domain" not in response.text
    location = submit(client, attempt_of(response.text)).headers["location"]
    token = location.rpartition("tkn=")[2]
    assert token_data(exchange(client, token))
    (session,) = sandbox.sessions_for("alice")
    assert session.domain is None


def test_domain_outside_the_accepted_set(clock: FakeClock) -> None:
    config = SandboxConfig(
        partners={"CA_DEMO": SECRET},
        users={"alice": "wonderland"},
        domains={"local.users"},
        redirect_prefixes=("https://app.example/",),
    )
    sandbox = Sandbox(config, clock=clock)
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        ok = client.get(LOGIN_PATH, params=login_params(Domain="local.users"))
        assert ok.status_code == 200
        wrong = client.get(LOGIN_PATH, params=login_params(Domain="other.users"))
        assert_error_page(wrong, 400, "INVALID_DOMAIN")


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamp_within_the_window(client: httpx2.Client, offset: int) -> None:
    stamp = START + offset
    params = login_params(timestamp=str(stamp), hmac=hmac_hex("CA_DEMO", stamp))
    assert client.get(LOGIN_PATH, params=params).status_code == 200


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_timestamp_outside_the_window(client: httpx2.Client, offset: int) -> None:
    stamp = START + offset
    params = login_params(timestamp=str(stamp), hmac=hmac_hex("CA_DEMO", stamp))
    assert_error_page(client.get(LOGIN_PATH, params=params), 401, "STALE_TIMESTAMP")


@pytest.mark.parametrize(
    "timestamp",
    [
        f" {START}",
        f"{START} ",
        "1_800_000_000",
        "\u0661\u0668\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic digits
        "\uff11\uff18\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",  # full-width digits
        f"+{START}",
        f"{START}.0",
        f"{START}000",  # milliseconds: 13 digits
        "",
    ],
)
def test_malformed_timestamp(client: httpx2.Client, timestamp: str) -> None:
    params = login_params(timestamp=timestamp, hmac=hmac_hex("CA_DEMO", timestamp))
    response = client.get(LOGIN_PATH, params=params)
    code = "MISSING_SIGNATURE" if timestamp == "" else "INVALID_TIMESTAMP"
    assert_error_page(response, 401, code)


def test_upper_case_hex_signature_is_rejected(client: httpx2.Client) -> None:
    params = login_params(hmac=hmac_hex("CA_DEMO", START).upper())
    assert_error_page(client.get(LOGIN_PATH, params=params), 401, "INVALID_SIGNATURE")


@pytest.mark.parametrize(
    ("partner", "signature", "code"),
    [
        ("NOBODY", hmac_hex("NOBODY", START), "INVALID_PARTNER"),
        ("ca_demo", hmac_hex("ca_demo", START), "INVALID_PARTNER"),
        ("CA_DEMO", hmac_hex("CA_DEMO", START, OTHER_SECRET), "INVALID_SIGNATURE"),
        ("CA_DEMO", hmac_hex("OTHER", START, OTHER_SECRET), "INVALID_SIGNATURE"),
        ("CA_DEMO", hmac_hex("CA_DEMO", START + 1), "INVALID_SIGNATURE"),
        ("CA_DEMO", hmac_hex("CA_DEMO", START)[:63], "INVALID_SIGNATURE"),
    ],
)
def test_wrong_partner_or_signature(
    client: httpx2.Client, partner: str, signature: str, code: str
) -> None:
    params = login_params(partner=partner, hmac=signature)
    assert_error_page(client.get(LOGIN_PATH, params=params), 401, code)


def test_other_registered_partner_signs_its_own_links(client: httpx2.Client) -> None:
    params = login_params(partner="OTHER", hmac=hmac_hex("OTHER", START, OTHER_SECRET))
    response = client.get(LOGIN_PATH, params=params)
    assert response.status_code == 200
    assert "<strong>OTHER</strong>" in response.text


@pytest.mark.parametrize(
    "redirect_url",
    [
        "https://evil.example/callback",
        "https://app.example.evil.test/callback",
        "http://app.example/callback",
        "https://app.example/../admin",
        "https://app.example/a/%2e%2e/admin",
        "https://app.example/callback#tkn=",
        "https://app.example/call back",
        "https://app.example/\\evil.test",
        "https://app.example/caf\u00e9",
        "//app.example/callback",
        "/callback",
    ],
)
def test_unregistered_redirect_url(client: httpx2.Client, redirect_url: str) -> None:
    response = client.get(LOGIN_PATH, params=login_params(RedirectUrl=redirect_url))
    assert_error_page(response, 400, "INVALID_REDIRECT_URL")


def test_a_refused_redirect_url_shows_itself_the_prefixes_and_the_option(
    client: httpx2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="redtrust_middleware.sandbox")
    received = "https://other.example:8443/callback?tkn="
    response = client.get(LOGIN_PATH, params=login_params(RedirectUrl=received))
    assert_error_page(response, 400, "INVALID_REDIRECT_URL")
    page = response.text
    assert f"Received RedirectUrl: {received}" in page
    assert "Registered prefixes: https://app.example/" in page
    command = (
        "redtrust sandbox --redirect-prefix https://app.example/ "
        "--redirect-prefix https://other.example:8443/"
    )
    assert command in page
    assert "SandboxConfig.redirect_prefixes" in page
    (record,) = [r for r in caplog.records if "RedirectUrl" in r.getMessage()]
    line = record.getMessage()
    assert received in line
    assert "https://app.example/" in line
    assert "--redirect-prefix https://other.example:8443/" in line


def test_a_refused_redirect_url_is_shown_escaped_truncated_and_neutralised(
    client: httpx2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="redtrust_middleware.sandbox")
    received = "https://evil.example/<script>alert(1)</script>\x1b[31m\nFAKE LOG LINE " + "A" * 400
    response = client.get(LOGIN_PATH, params=login_params(RedirectUrl=received))
    assert_error_page(response, 400, "INVALID_REDIRECT_URL")
    page = response.text
    assert "<script>" not in page
    assert "\x1b" not in page
    assert "\nFAKE" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m\\x0aFAKE LOG LINE" in page
    assert "A" * 400 not in page
    assert "A" * 100 + "..." in page
    assert "To accept it" not in page  # a space in it: no prefix would make it acceptable
    (record,) = [r for r in caplog.records if "RedirectUrl" in r.getMessage()]
    line = record.getMessage()
    assert "\x1b" not in line
    assert "\n" not in line
    assert "\\x0aFAKE LOG LINE" in line


def test_a_redirect_url_under_a_prefix_refused_for_its_path_suggests_no_prefix(
    client: httpx2.Client,
) -> None:
    response = client.get(LOGIN_PATH, params=login_params(RedirectUrl="https://app.example/a/../b"))
    assert_error_page(response, 400, "INVALID_REDIRECT_URL")
    assert "&#x27;..&#x27; path segments" in response.text
    assert "Received RedirectUrl: https://app.example/a/../b" in response.text
    assert "To accept it" not in response.text


def test_query_string_that_is_not_utf8(client: httpx2.Client) -> None:
    query = "&".join(f"{k}={v}" for k, v in login_params().items()) + "&Domain=%ff"
    response = client.get(f"{LOGIN_PATH}?{query}")
    assert_error_page(response, 400, "INVALID_REQUEST")


def test_error_page_keeps_the_security_headers(client: httpx2.Client) -> None:
    response = client.get(LOGIN_PATH, params=login_params(hmac=None))
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-type"].startswith("text/html")


# -- escaping ----------------------------------------------------------------------------------

MARKUP = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"


def test_markup_in_redirect_url_and_domain_is_escaped(client: httpx2.Client) -> None:
    redirect_url = "https://app.example/callback?next=<b>&x=\"'><script>alert(1)</script>"
    response = client.get(LOGIN_PATH, params=login_params(RedirectUrl=redirect_url, Domain=MARKUP))
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "<img" not in response.text
    assert "<b>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "&quot;&#x27;&gt;" in response.text
    # The redirect itself still carries the original value, untouched.
    location = submit(client, attempt_of(response.text)).headers["location"]
    assert location.startswith(redirect_url + "&tkn=")


def test_markup_in_partner_or_username_is_never_reflected(client: httpx2.Client) -> None:
    params = login_params(partner="<B>CA", hmac=hmac_hex("CA_DEMO", START))
    response = client.get(LOGIN_PATH, params=params)
    assert_error_page(response, 401, "INVALID_PARTNER")
    assert "<B>" not in response.text
    attempt = open_form(client)
    response = submit(client, attempt, username=MARKUP, password="x")
    assert response.status_code == 401
    assert "<script>" not in response.text
    assert "<img" not in response.text


def test_sign_in_plays_the_browser_in_process() -> None:
    from redtrust_middleware.login import build_login_url
    from redtrust_middleware.testing import TEST_USERS, make_config, make_sandbox

    sandbox = make_sandbox()
    config = make_config()
    url = build_login_url(config, redirect_url="https://app.test/cb?tkn=", now=sandbox.clock())
    location = sandbox.sign_in(url, "alice", TEST_USERS["alice"])
    assert location.startswith("https://app.test/cb?tkn=")
    with pytest.raises(ValueError, match="401"):
        sandbox.sign_in(url, "alice", "wrong")
