"""Helpers of the sandbox tests; signatures are computed here, independently of the library."""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import subprocess

import httpx2

SECRET = "test-secret-for-the-sandbox-0001"
OTHER_SECRET = "another-partner-secret-000000002"
PARTNER = "CA_DEMO"
START = 1_800_000_000
LOGIN_PATH = "/authclient/auth/loginrequest"
FORM_PATH = "/authclient/auth/login"
EXCHANGE_PATH = "/authapi/v1/login_by_temp_token"
TUTORIAL_REFRESH_PATH = "/authapi/v1/refresh-token"
RA_REFRESH_PATH = "/raapi/v1/auth/refresh-token"
DIRECT_LOGIN_PATH = "/raapi/v1/auth/login"
LOGOUT_PATH = "/raapi/v1/auth/logout"
JSON = {"content-type": "application/json"}
#: The openssl command, if installed: an HMAC implementation that shares no code with Python's.
OPENSSL = shutil.which("openssl")


class FakeClock:
    """A settable clock (UNIX seconds)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hmac_hex(partner: str, timestamp: int | str, secret: str = SECRET) -> str:
    """HMAC-SHA256 of ``PARTNER:TIMESTAMP`` as lowercase hex."""
    message = f"{partner}:{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def openssl_hmac(message: str, secret: str) -> str:
    """``HMAC-SHA256`` by the openssl command, keyed with the secret's UTF-8 bytes (as hex, so
    any byte survives the command line)."""
    assert OPENSSL is not None
    done = subprocess.run(
        [OPENSSL, "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{secret.encode().hex()}"],
        input=message.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode().rsplit("= ", 1)[1].strip()


def signed_headers(
    timestamp: int | str = START, *, partner: str = PARTNER, secret: str = SECRET
) -> dict[str, str]:
    """The three server-to-server HMAC headers."""
    return {
        "x-partner-name": partner,
        "x-request-timestamp": str(timestamp),
        "x-hmac-signature": hmac_hex(partner, timestamp, secret),
    }


def login_params(**overrides: str | None) -> dict[str, str]:
    """Valid login-link parameters signed at START; ``None`` removes one."""
    params: dict[str, str | None] = {
        "Consumer": "RA_API",
        "RedirectUrl": "https://app.example/callback?tkn=",
        "timestamp": str(START),
        "partner": PARTNER,
        "hmac": hmac_hex(PARTNER, START),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def attempt_of(page: str) -> str:
    """The hidden attempt id of a sign-in form."""
    match = re.search(r'name="attempt" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def browser_login(
    client: httpx2.Client, username: str = "alice", password: str = "wonderland"
) -> str:
    """Go through the login link and the form; the ``tkn`` of the redirect."""
    page = client.get(LOGIN_PATH, params=login_params())
    assert page.status_code == 200, page.text
    form = {"attempt": attempt_of(page.text), "username": username, "password": password}
    response = client.post(FORM_PATH, data=form)
    assert response.status_code == 302, response.text
    return response.headers["location"].rpartition("tkn=")[2]


def envelope_of(response: httpx2.Response, status: int, code: str) -> dict[str, object]:
    """Check a JSON envelope's status, headers and code; its ``data``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"message", "messageType", "errorCode", "data"}
    assert body["errorCode"] == code
    assert body["messageType"] == ("SUCCESS" if code == "OK" else "ERROR")
    assert isinstance(body["message"], str)
    assert body["message"]
    data = body["data"]
    assert isinstance(data, dict)
    return data


def token_data(response: httpx2.Response) -> dict[str, str]:
    """The token data of a successful exchange, refresh or login."""
    data = envelope_of(response, 200, "OK")
    assert set(data) == {"accessToken", "refreshToken", "expiration"}
    result: dict[str, str] = {}
    for key, value in data.items():
        assert isinstance(value, str)
        result[key] = value
    return result


def exchange(client: httpx2.Client, token: str, *, method: str = "POST") -> httpx2.Response:
    """Exchange ``token`` with signed headers at START."""
    body = {"temporalToken": token}
    return client.request(method, EXCHANGE_PATH, json=body, headers=signed_headers())
