"""The sandbox's token API: exchange, refresh (both shapes), direct login, logout, JWTs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from redtrust_middleware.sandbox import ExpirationFormat, Sandbox, SandboxConfig

from ._support import (
    DIRECT_LOGIN_PATH,
    EXCHANGE_PATH,
    LOGOUT_PATH,
    OTHER_SECRET,
    PARTNER,
    RA_REFRESH_PATH,
    START,
    TUTORIAL_REFRESH_PATH,
    FakeClock,
    browser_login,
    envelope_of,
    exchange,
    hmac_hex,
    signed_headers,
    token_data,
)


def claims_of(sandbox: Sandbox, token: str) -> dict[str, Any]:
    """Verify ``token`` with the sandbox's public JWKS only (as a client would)."""
    keys = KeySet.import_key_set(sandbox.jwks())  # type: ignore[arg-type]
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] == sandbox.jwks()["keys"][0]["kid"]
    return decoded.claims


def signed_in(client: httpx2.Client) -> dict[str, str]:
    """Token data of a fresh session of alice (browser login + exchange)."""
    return token_data(exchange(client, browser_login(client)))


def ra_refresh(client: httpx2.Client, refresh_token: str) -> httpx2.Response:
    return client.put(
        RA_REFRESH_PATH, json={"refreshToken": refresh_token}, headers=signed_headers()
    )


def tutorial_refresh(
    client: httpx2.Client, refresh_token: str, bearer: str | None
) -> httpx2.Response:
    headers = signed_headers()
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return client.put(TUTORIAL_REFRESH_PATH, json={"refreshToken": refresh_token}, headers=headers)


def logout(client: httpx2.Client, bearer: str) -> httpx2.Response:
    headers = {**signed_headers(), "Authorization": f"Bearer {bearer}"}
    return client.delete(LOGOUT_PATH, headers=headers)


# -- exchange ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_exchange_in_both_shapes(sandbox: Sandbox, client: httpx2.Client, method: str) -> None:
    data = token_data(exchange(client, browser_login(client), method=method))
    claims = claims_of(sandbox, data["accessToken"])
    assert claims["iss"] == "redtrust-sandbox"
    assert claims["sub"] == "alice"
    assert claims["aud"] == PARTNER
    assert claims["iat"] == START
    assert claims["exp"] == START + 300
    assert isinstance(claims["jti"], str)
    assert "domain" not in claims
    (session,) = sandbox.sessions_for("alice")
    assert claims["sid"] == session.session_id
    assert data["refreshToken"] == session.refresh_token
    assert data["expiration"] == "2027-01-15T08:05:00Z"
    assert sandbox.calls["exchange"] == 1


def test_domain_travels_into_the_token(sandbox: Sandbox, client: httpx2.Client) -> None:
    data = token_data(
        exchange(client, sandbox.issue_temp_token("bob", "local.users", partner=PARTNER))
    )
    claims = claims_of(sandbox, data["accessToken"])
    assert claims["sub"] == "bob"
    assert claims["domain"] == "local.users"


def test_jwt_claims_validate_with_joserfc(sandbox: Sandbox, client: httpx2.Client) -> None:
    claims = claims_of(sandbox, signed_in(client)["accessToken"])
    registry = jwt.JWTClaimsRegistry(
        now=START + 10,
        iss={"essential": True, "value": "redtrust-sandbox"},
        aud={"essential": True, "value": PARTNER},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(claims)


def test_a_foreign_key_cannot_verify_the_token(sandbox: Sandbox, client: httpx2.Client) -> None:
    token = signed_in(client)["accessToken"]
    with pytest.raises(Exception, match="signature"):
        jwt.decode(token, ECKey.generate_key("P-256"), algorithms=["ES256"])


def test_jwks_served_over_http(sandbox: Sandbox, client: httpx2.Client) -> None:
    response = client.get("/_sandbox/jwks.json")
    assert response.status_code == 200
    assert response.json() == sandbox.jwks()
    (key,) = sandbox.jwks()["keys"]
    assert key["kty"] == "EC"
    assert key["alg"] == "ES256"
    assert "d" not in key  # public only


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("utc-z", "2027-01-15T08:05:00Z"),
        ("naive-utc", "2027-01-15T08:05:00"),
        ("offset", "2027-01-15T09:05:00+01:00"),
    ],
)
def test_expiration_formats(clock: FakeClock, style: ExpirationFormat, expected: str) -> None:
    config = SandboxConfig(
        partners={PARTNER: "test-secret-for-the-sandbox-0001"},
        users={},
        redirect_prefixes=("https://app.example/",),
        expiration_format=style,
    )
    sandbox = Sandbox(config, clock=clock)
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        data = token_data(exchange(client, sandbox.issue_temp_token("alice")))
    parsed = datetime.fromisoformat(expected.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    assert parsed == datetime.fromtimestamp(START + 300, tz=UTC)
    assert parsed.utcoffset() in (timedelta(0), timedelta(hours=1), None)
    assert data["expiration"] == expected


def test_temp_token_is_single_use(client: httpx2.Client) -> None:
    token = browser_login(client)
    token_data(exchange(client, token))
    envelope_of(exchange(client, token), 401, "INVALID_TEMPORAL_TOKEN")


def test_temp_token_expires(client: httpx2.Client, clock: FakeClock) -> None:
    token = browser_login(client)
    clock.advance(60)
    response = client.post(
        EXCHANGE_PATH, json={"temporalToken": token}, headers=signed_headers(START + 60)
    )
    envelope_of(response, 401, "EXPIRED_TEMPORAL_TOKEN")


def test_temp_token_alive_before_expiry(client: httpx2.Client, clock: FakeClock) -> None:
    token = browser_login(client)
    clock.advance(59)
    token_data(exchange(client, token))


def test_temp_token_of_another_partner_is_invalid(client: httpx2.Client) -> None:
    token = browser_login(client)
    headers = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    response = client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=headers)
    envelope_of(response, 401, "INVALID_TEMPORAL_TOKEN")
    # Presented once, gone: not even its own partner may use it afterwards.
    envelope_of(exchange(client, token), 401, "INVALID_TEMPORAL_TOKEN")


def test_unknown_temp_token(client: httpx2.Client) -> None:
    envelope_of(exchange(client, "not-a-token"), 401, "INVALID_TEMPORAL_TOKEN")


# What each endpoint asks for without HMAC headers, and under strict_signatures: see
# test_sandbox_protocol.py. Headers that are sent are checked on every call.
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-partner-name": PARTNER}, "MISSING_SIGNATURE"),
        ({**signed_headers(), "x-hmac-signature": ""}, "MISSING_SIGNATURE"),
        (signed_headers(START - 301), "STALE_TIMESTAMP"),
        (signed_headers(START + 301), "STALE_TIMESTAMP"),
        (
            {**signed_headers(), "x-hmac-signature": hmac_hex(PARTNER, START).upper()},
            "INVALID_SIGNATURE",
        ),
        ({**signed_headers(), "x-request-timestamp": f" {START}"}, "INVALID_TIMESTAMP"),
        ({**signed_headers(), "x-request-timestamp": "1_800_000_000"}, "INVALID_TIMESTAMP"),
        ({**signed_headers(), "x-partner-name": "NOBODY"}, "INVALID_PARTNER"),
        (signed_headers(secret="wrong-secret"), "INVALID_SIGNATURE"),
    ],
)
def test_every_api_call_checks_the_signature_it_carries(
    sandbox: Sandbox, client: httpx2.Client, headers: dict[str, str], code: str
) -> None:
    token = sandbox.issue_temp_token("alice", partner=PARTNER)
    response = client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=headers)
    envelope_of(response, 401, code)
    for path, method in [
        (RA_REFRESH_PATH, "PUT"),
        (TUTORIAL_REFRESH_PATH, "PUT"),
        (DIRECT_LOGIN_PATH, "POST"),
        (LOGOUT_PATH, "DELETE"),
    ]:
        envelope_of(client.request(method, path, headers=headers), 401, code)
    # A refused exchange does not use the token up.
    token_data(exchange(client, token))


def test_duplicated_signature_header(client: httpx2.Client) -> None:
    headers = [*signed_headers().items(), ("x-request-timestamp", str(START))]
    response = client.post(EXCHANGE_PATH, json={"temporalToken": "x"}, headers=headers)
    data = envelope_of(response, 400, "INVALID_REQUEST")
    assert data == {}
    assert "x-request-timestamp" in response.json()["message"]


# -- refresh -----------------------------------------------------------------------------------


def test_ra_refresh_rotates_and_detects_reuse(sandbox: Sandbox, client: httpx2.Client) -> None:
    first = signed_in(client)
    second = token_data(ra_refresh(client, first["refreshToken"]))
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert (
        claims_of(sandbox, second["accessToken"])["sid"]
        == (claims_of(sandbox, first["accessToken"])["sid"])
    )
    envelope_of(ra_refresh(client, first["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 1
    third = token_data(ra_refresh(client, second["refreshToken"]))
    assert sandbox.calls["refresh"] == 3
    (session,) = sandbox.sessions_for("alice")
    assert session.refreshes == 2
    assert session.refresh_token == third["refreshToken"]


def test_refresh_without_rotation_keeps_the_token(clock: FakeClock) -> None:
    config = SandboxConfig(
        partners={PARTNER: "test-secret-for-the-sandbox-0001"},
        users={},
        redirect_prefixes=("https://app.example/",),
        rotate_refresh_tokens=False,
    )
    sandbox = Sandbox(config, clock=clock)
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        first = token_data(exchange(client, sandbox.issue_temp_token("alice")))
        for _ in range(2):
            again = token_data(ra_refresh(client, first["refreshToken"]))
            assert again["refreshToken"] == first["refreshToken"]
    assert sandbox.calls["refresh_reuse"] == 0


def test_refresh_gives_a_new_expiry(client: httpx2.Client, clock: FakeClock) -> None:
    first = signed_in(client)
    clock.advance(100)
    headers = signed_headers(START + 100)
    response = client.put(
        RA_REFRESH_PATH, json={"refreshToken": first["refreshToken"]}, headers=headers
    )
    assert token_data(response)["expiration"] == "2027-01-15T08:06:40Z"


def test_refresh_token_expires(client: httpx2.Client, clock: FakeClock) -> None:
    first = signed_in(client)
    clock.advance(8 * 3600)
    headers = signed_headers(START + 8 * 3600)
    response = client.put(
        RA_REFRESH_PATH, json={"refreshToken": first["refreshToken"]}, headers=headers
    )
    envelope_of(response, 401, "EXPIRED_REFRESH_TOKEN")


def test_expire_session_helper(sandbox: Sandbox, client: httpx2.Client) -> None:
    first = signed_in(client)
    assert sandbox.expire_session(first["refreshToken"])
    assert not sandbox.expire_session("unknown")
    envelope_of(ra_refresh(client, first["refreshToken"]), 401, "EXPIRED_REFRESH_TOKEN")


def test_refresh_token_of_another_partner(client: httpx2.Client) -> None:
    first = signed_in(client)
    headers = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    response = client.put(
        RA_REFRESH_PATH, json={"refreshToken": first["refreshToken"]}, headers=headers
    )
    envelope_of(response, 401, "INVALID_REFRESH_TOKEN")
    token_data(ra_refresh(client, first["refreshToken"]))


def test_tutorial_refresh_accepts_an_expired_bearer(
    sandbox: Sandbox, client: httpx2.Client, clock: FakeClock
) -> None:
    first = signed_in(client)
    clock.advance(3600)  # the access token expired long ago
    headers = {**signed_headers(START + 3600), "Authorization": f"Bearer {first['accessToken']}"}
    body = {"refreshToken": first["refreshToken"]}
    second = token_data(client.put(TUTORIAL_REFRESH_PATH, json=body, headers=headers))
    assert claims_of(sandbox, second["accessToken"])["iat"] == START + 3600


def test_tutorial_refresh_needs_a_bearer(client: httpx2.Client) -> None:
    first = signed_in(client)
    envelope_of(tutorial_refresh(client, first["refreshToken"], None), 401, "MISSING_BEARER")
    token_data(tutorial_refresh(client, first["refreshToken"], first["accessToken"]))


def test_tutorial_refresh_rejects_a_bearer_of_another_session(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    mine = signed_in(client)
    other = token_data(exchange(client, sandbox.issue_temp_token("alice", partner=PARTNER)))
    response = tutorial_refresh(client, mine["refreshToken"], other["accessToken"])
    envelope_of(response, 401, "INVALID_BEARER")
    # Nothing was rotated by the refused call.
    token_data(tutorial_refresh(client, mine["refreshToken"], mine["accessToken"]))


def forged_token(claims: dict[str, Any], kid: str) -> str:
    key = ECKey.generate_key("P-256")
    return jwt.encode({"alg": "ES256", "kid": kid}, claims, key, algorithms=["ES256"])


def test_tutorial_refresh_rejects_forged_and_garbage_bearers(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    first = signed_in(client)
    claims = claims_of(sandbox, first["accessToken"])
    kid = sandbox.jwks()["keys"][0]["kid"]
    header, payload, _ = first["accessToken"].split(".")
    for bearer in [
        forged_token(claims, kid),
        f"{header}.{payload}.",
        f"{header}.{payload}",
        "eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.",
        "garbage",
        "a.b.c",
    ]:
        response = tutorial_refresh(client, first["refreshToken"], bearer)
        envelope_of(response, 401, "INVALID_BEARER")
    for authorization in ["Basic abc", "Bearer", "Bearer a b"]:
        headers = {**signed_headers(), "Authorization": authorization}
        body = {"refreshToken": first["refreshToken"]}
        response = client.put(TUTORIAL_REFRESH_PATH, json=body, headers=headers)
        assert response.json()["errorCode"] in ("MISSING_BEARER", "INVALID_BEARER")
        assert response.status_code == 401
    token_data(tutorial_refresh(client, first["refreshToken"], first["accessToken"]))


def test_bearer_issued_to_another_partner(sandbox: Sandbox, client: httpx2.Client) -> None:
    other_headers = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    token = sandbox.issue_temp_token("alice", partner="OTHER")
    response = client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=other_headers)
    foreign = token_data(response)
    mine = signed_in(client)
    response = tutorial_refresh(client, mine["refreshToken"], foreign["accessToken"])
    envelope_of(response, 401, "INVALID_BEARER")


# -- direct login and logout -------------------------------------------------------------------


def direct_login(client: httpx2.Client, body: dict[str, Any]) -> httpx2.Response:
    return client.post(DIRECT_LOGIN_PATH, json=body, headers=signed_headers())


def test_direct_login(sandbox: Sandbox, client: httpx2.Client) -> None:
    data = token_data(direct_login(client, {"username": "bob", "password": "builder"}))
    assert claims_of(sandbox, data["accessToken"])["sub"] == "bob"
    body: dict[str, Any] = {"username": "bob", "password": "builder", "domain": "local.users"}
    data = token_data(direct_login(client, body))
    assert claims_of(sandbox, data["accessToken"])["domain"] == "local.users"
    token_data(direct_login(client, {**body, "domain": None}))
    assert sandbox.calls["login"] == 3
    assert len(sandbox.sessions_for("bob")) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bob", "password": "wrong"},
        {"username": "nobody", "password": "builder"},
        {"username": "alice", "password": "builder"},
    ],
)
def test_direct_login_with_bad_credentials(client: httpx2.Client, body: dict[str, Any]) -> None:
    envelope_of(direct_login(client, body), 401, "INVALID_CREDENTIALS")


def test_direct_login_domain_outside_the_accepted_set(clock: FakeClock) -> None:
    config = SandboxConfig(
        partners={PARTNER: "test-secret-for-the-sandbox-0001"},
        users={"bob": "builder"},
        domains=frozenset({"local.users"}),
        redirect_prefixes=("https://app.example/",),
    )
    sandbox = Sandbox(config, clock=clock)
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        body = {"username": "bob", "password": "builder", "domain": "elsewhere"}
        envelope_of(direct_login(client, body), 400, "INVALID_DOMAIN")
        body["domain"] = "local.users"
        token_data(direct_login(client, body))


def test_logout_ends_the_session(sandbox: Sandbox, client: httpx2.Client) -> None:
    first = signed_in(client)
    assert envelope_of(logout(client, first["accessToken"]), 200, "OK") == {}
    envelope_of(ra_refresh(client, first["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    assert sandbox.calls["refresh_reuse"] == 0
    (session,) = sandbox.sessions_for("alice")
    assert not session.active
    # Logging out twice is harmless.
    envelope_of(logout(client, first["accessToken"]), 200, "OK")
    assert sandbox.calls["logout"] == 2


def test_logout_leaves_other_sessions_alone(sandbox: Sandbox, client: httpx2.Client) -> None:
    first, second = signed_in(client), signed_in(client)
    envelope_of(logout(client, first["accessToken"]), 200, "OK")
    token_data(ra_refresh(client, second["refreshToken"]))


def test_logout_needs_an_unexpired_bearer(client: httpx2.Client, clock: FakeClock) -> None:
    first = signed_in(client)
    envelope_of(client.delete(LOGOUT_PATH, headers=signed_headers()), 401, "MISSING_BEARER")
    clock.advance(300)
    headers = {**signed_headers(START + 300), "Authorization": f"Bearer {first['accessToken']}"}
    envelope_of(client.delete(LOGOUT_PATH, headers=headers), 401, "EXPIRED_BEARER")


def test_revoke_ends_every_session_of_a_user(sandbox: Sandbox, client: httpx2.Client) -> None:
    first, second = signed_in(client), signed_in(client)
    bob = token_data(direct_login(client, {"username": "bob", "password": "builder"}))
    assert sandbox.revoke("alice") == 2
    assert sandbox.revoke("alice") == 0
    for data in (first, second):
        envelope_of(ra_refresh(client, data["refreshToken"]), 401, "INVALID_REFRESH_TOKEN")
    token_data(ra_refresh(client, bob["refreshToken"]))
    assert [s.active for s in sandbox.sessions_for("alice")] == [False, False]


def test_session_info_repr_hides_the_refresh_token(sandbox: Sandbox, client: httpx2.Client) -> None:
    first = signed_in(client)
    (session,) = sandbox.sessions_for("alice")
    assert first["refreshToken"] not in repr(session)


def test_issue_temp_token_needs_a_partner_when_there_are_several(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="partner"):
        sandbox.issue_temp_token("alice")
    with pytest.raises(ValueError, match="partner"):
        sandbox.issue_temp_token("alice", partner="NOBODY")
    with pytest.raises(ValueError, match="username"):
        sandbox.issue_temp_token("", partner=PARTNER)
