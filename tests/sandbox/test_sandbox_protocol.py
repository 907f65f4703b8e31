"""Requests copied from Redtrust's docs, sent to ``redtrust sandbox`` over a real socket.

Each request carries exactly the headers the docs list for it (``redtrust-api.md`` §6,
"Authentication per endpoint") plus HTTP/1.1 framing (``Host``, ``Content-Length``,
``Connection``): they go out through a raw socket, so no HTTP client adds its own. HMAC
headers are computed with ``openssl dgst`` when it is installed, else with Python's ``hmac``,
never with the library's signing. The sandbox runs as a subprocess on two free ports, the way
``redtrust sandbox`` serves 8083 and 8082 without ``--port``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from redtrust_middleware.client import Client
from redtrust_middleware.config import CERTIFICATE_ENROLL, RA_API, RedtrustConfig
from redtrust_middleware.sandbox import DemoCA, Sandbox, SandboxConfig
from redtrust_middleware.sandbox import cli as sandbox_cli

from ._support import (
    DIRECT_LOGIN_PATH,
    EXCHANGE_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    OPENSSL,
    OTHER_SECRET,
    PARTNER,
    RA_REFRESH_PATH,
    SECRET,
    TUTORIAL_REFRESH_PATH,
    FakeClock,
    attempt_of,
    envelope_of,
    hmac_hex,
    openssl_hmac,
    signed_headers,
    token_data,
)

pytestmark = pytest.mark.network

CREATE = "/raapi/v1/csr/create"
FINALIZE = "/raapi/v1/csr/finalize"
HOLDER = "ALICE EXAMPLE"
#: The Camerfirma tutorial's csr/create body (redtrust-api.md §6, "More facts").
CAMERFIRMA_BODY = {
    "dn": [{"attribute": "cn", "value": HOLDER}],
    "hashType": "SHA384",
    "keyLength": 2048,
    "keyType": "RSA",
    "provider": "CAMERFIRMA",
}
CONTENT_TYPE = {"Content-Type": "application/json"}
REDIRECT = "https://app.example/callback?tkn="
_START_TIMEOUT = 60.0


# -- an HTTP/1.1 request with only the headers given -----------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        assert self.headers["content-type"] == "application/json", self.body
        answer = json.loads(self.body)
        assert set(answer) == {"message", "messageType", "errorCode", "data"}
        return dict(answer)

    def data(self, status: int = 200, code: str = "OK") -> dict[str, Any]:
        answer = self.envelope()
        assert (self.status, answer["errorCode"]) == (status, code), answer
        assert answer["messageType"] == ("SUCCESS" if code == "OK" else "ERROR")
        return dict(answer["data"])


def send(
    port: int,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> Answer:
    """``method target`` to 127.0.0.1:port with exactly ``headers`` (and the framing); a
    ``bytes`` body goes as is, anything else but ``None`` as JSON."""
    content = (
        body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    )
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(content)}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return Answer(int(status_line.split()[1]), parsed, rest)


def hmac_of(message: str, secret: str = SECRET) -> str:
    """Lowercase hex HMAC-SHA256, by ``openssl dgst`` when available, else Python's ``hmac``."""
    if OPENSSL is None:
        partner, _, timestamp = message.partition(":")
        return hmac_hex(partner, timestamp, secret)
    return openssl_hmac(message, secret)


def hmac_headers(*, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """The tutorial's three headers, signed now."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "x-partner-name": PARTNER,
        "x-request-timestamp": str(stamp),
        "x-hmac-signature": hmac_of(f"{PARTNER}:{stamp}", secret),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- redtrust sandbox as a subprocess --------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class Running:
    ports: tuple[int, int]
    output: Path


@contextlib.contextmanager
def redtrust_sandbox(tmp: Path, *extra: str) -> Iterator[Running]:
    """``python -m redtrust_middleware.sandbox --port A --port B ...`` until the block ends."""
    ports = free_ports(2)
    output = tmp / "sandbox.log"
    argv = [sys.executable, "-m", "redtrust_middleware.sandbox", "--partner", PARTNER]
    argv += ["--user", "alice:wonderland", "--redirect-prefix", "https://app.example/"]
    argv += [f"--port={port}" for port in ports]
    env = {**os.environ, sandbox_cli.SECRET_ENV: SECRET}
    with output.open("wb") as log:
        process = subprocess.Popen([*argv, *extra], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not all(_accepts(port) for port in ports):
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)
        yield Running((ports[0], ports[1]), output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - uvicorn stops on SIGTERM
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One ``redtrust sandbox`` for the module, as documented: per-endpoint authentication."""
    with redtrust_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture
def port(served: Running) -> int:
    return served.ports[0]


def ra_login(port: int) -> dict[str, Any]:
    """The RA API's direct login, as its reference shows it: Content-Type only."""
    body = {"username": "alice", "password": "wonderland"}
    return send(port, "POST", DIRECT_LOGIN_PATH, CONTENT_TYPE, body).data()


def browser_tkn(port: int, **params: str) -> str:
    """The tutorial's login link (signed with openssl) and the sign-in form; the ``tkn``."""
    stamp = int(time.time())
    query = {
        "Consumer": "RA_API",
        "Domain": "local.users",
        "RedirectUrl": REDIRECT,
        "timestamp": str(stamp),
        "partner": PARTNER,
        "hmac": hmac_of(f"{PARTNER}:{stamp}"),
        **params,
    }
    page = send(port, "GET", f"{LOGIN_PATH}?{urlencode(query, quote_via=quote)}")
    assert page.status == 200, page.body
    form = {
        "attempt": attempt_of(page.body.decode()),
        "username": "alice",
        "password": "wonderland",
    }
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    back = send(port, "POST", "/authclient/auth/login", urlencoded, urlencode(form).encode())
    assert back.status == 302, back.body
    location = back.headers["location"]
    # The registered URL ends in "?tkn=": Redtrust appends the token right there.
    assert location.startswith(REDIRECT)
    return location[len(REDIRECT) :]


# -- the RA API: login and refresh need nothing, logout and csr/* only the bearer ------------


def test_ra_login_needs_only_content_type(port: int) -> None:
    data = ra_login(port)
    assert set(data) == {"accessToken", "refreshToken", "expiration"}
    body = {"username": "alice", "password": "wonderland", "domain": "local.users"}
    assert send(port, "POST", DIRECT_LOGIN_PATH, CONTENT_TYPE, body).data()["accessToken"]
    wrong = {"username": "alice", "password": "nope"}
    send(port, "POST", DIRECT_LOGIN_PATH, CONTENT_TYPE, wrong).data(401, "INVALID_CREDENTIALS")


def test_ra_refresh_needs_only_content_type(port: int) -> None:
    first = ra_login(port)
    body = {"refreshToken": first["refreshToken"]}
    second = send(port, "PUT", RA_REFRESH_PATH, CONTENT_TYPE, body).data()
    assert set(second) == {"accessToken", "refreshToken", "expiration"}
    assert second["refreshToken"] != first["refreshToken"]  # keep the newest (rotation)
    send(port, "PUT", RA_REFRESH_PATH, CONTENT_TYPE, body).data(401, "INVALID_REFRESH_TOKEN")


def test_logout_needs_only_the_bearer_and_ends_the_refresh_token(port: int) -> None:
    tokens = ra_login(port)
    assert send(port, "DELETE", LOGOUT_PATH, bearer(tokens["accessToken"])).data() == {}
    body = {"refreshToken": tokens["refreshToken"]}
    send(port, "PUT", RA_REFRESH_PATH, CONTENT_TYPE, body).data(401, "INVALID_REFRESH_TOKEN")
    send(port, "DELETE", LOGOUT_PATH).data(401, "MISSING_BEARER")


def test_csr_create_and_finalize_need_bearer_and_content_type(port: int) -> None:
    headers = {**bearer(ra_login(port)["accessToken"]), **CONTENT_TYPE}
    created = send(port, "POST", CREATE, headers, CAMERFIRMA_BODY).data()
    csr = x509.load_pem_x509_csr(created["csr"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOLDER
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA384)
    public_key = csr.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    certificate = DemoCA().issue(csr)  # the partner's CA
    body = {
        "requestCode": created["requestCode"],
        "certificate": certificate.public_bytes(Encoding.PEM).decode(),
    }
    stored = send(port, "PUT", FINALIZE, headers, body).data()
    assert set(stored) == {"idCertificate", "thumbprint"}
    der = certificate.public_bytes(Encoding.DER)
    assert stored["thumbprint"] == hashlib.sha1(der).hexdigest().upper()  # noqa: S324
    send(port, "POST", CREATE, CONTENT_TYPE, CAMERFIRMA_BODY).data(401, "MISSING_BEARER")


# -- the tutorial's /authapi/ calls are signed ----------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_exchange_is_refused_unsigned_and_accepted_signed(port: int, method: str) -> None:
    token = browser_tkn(port)
    body = {"temporalToken": token}
    send(port, method, EXCHANGE_PATH, CONTENT_TYPE, body).data(401, "MISSING_SIGNATURE")
    signed = {**CONTENT_TYPE, **hmac_headers()}
    data = send(port, method, EXCHANGE_PATH, signed, body).data()
    assert set(data) == {"accessToken", "refreshToken", "expiration"}


def test_tutorial_refresh_is_refused_unsigned_and_accepted_signed(port: int) -> None:
    signed = {**CONTENT_TYPE, **hmac_headers()}
    tokens = send(port, "GET", EXCHANGE_PATH, signed, {"temporalToken": browser_tkn(port)}).data()
    headers = {**bearer(tokens["accessToken"]), **CONTENT_TYPE}
    body = {"refreshToken": tokens["refreshToken"]}
    send(port, "PUT", TUTORIAL_REFRESH_PATH, headers, body).data(401, "MISSING_SIGNATURE")
    fresh = send(port, "PUT", TUTORIAL_REFRESH_PATH, {**headers, **hmac_headers()}, body).data()
    assert fresh["refreshToken"] != tokens["refreshToken"]


def test_a_wrong_or_stale_hmac_header_on_an_ra_call_is_refused(port: int) -> None:
    body = {"username": "alice", "password": "wonderland"}
    wrong = {**CONTENT_TYPE, **hmac_headers(secret=OTHER_SECRET)}
    send(port, "POST", DIRECT_LOGIN_PATH, wrong, body).data(401, "INVALID_SIGNATURE")
    stale = {**CONTENT_TYPE, **hmac_headers(timestamp=int(time.time()) - 3600)}
    send(port, "POST", DIRECT_LOGIN_PATH, stale, body).data(401, "STALE_TIMESTAMP")
    headers = {**bearer(ra_login(port)["accessToken"]), **CONTENT_TYPE, **wrong}
    send(port, "POST", CREATE, headers, CAMERFIRMA_BODY).data(401, "INVALID_SIGNATURE")


def test_an_empty_domain_is_accepted(port: int) -> None:
    assert browser_tkn(port, Domain="")


# -- ports -------------------------------------------------------------------------------------


def test_both_ports_serve_one_sandbox(served: Running) -> None:
    first, second = served.ports
    tokens = ra_login(first)
    body = {"refreshToken": tokens["refreshToken"]}
    assert send(second, "PUT", RA_REFRESH_PATH, CONTENT_TYPE, body).data()["accessToken"]
    banner = served.output.read_text()
    assert f"http://127.0.0.1:{first} and http://127.0.0.1:{second}" in banner


def test_an_ra_api_config_without_a_port_reaches_the_second_port(served: Running) -> None:
    # The real defaults (8083, 8082) may be taken on a test machine: the profile's default
    # port is pointed at the sandbox's second port instead, the URL still has none.
    profile = dataclasses.replace(RA_API, default_port=served.ports[1])
    config = RedtrustConfig(
        server_url="http://127.0.0.1", partner=PARTNER, shared_secret=SECRET, profile=profile
    )
    assert config.server_url == f"http://127.0.0.1:{served.ports[1]}"
    with Client(config) as client:
        tokens = client.refresh(client.login("alice", "wonderland"))
        assert client.logout(tokens) is True


def test_without_port_the_sandbox_serves_both_profiles_default_ports() -> None:
    assert sandbox_cli.build_parser().parse_args([]).port is None
    assert set(sandbox_cli.DEFAULT_PORTS) == {8083, 8082}
    for profile in (CERTIFICATE_ENROLL, RA_API):
        config = RedtrustConfig(
            server_url="http://127.0.0.1", partner=PARTNER, shared_secret=SECRET, profile=profile
        )
        assert int(config.server_url.rpartition(":")[2]) in sandbox_cli.DEFAULT_PORTS


# -- --strict-signatures -------------------------------------------------------------------------


def test_strict_signatures_restore_the_old_refusals(tmp_path: Path) -> None:
    with redtrust_sandbox(tmp_path, "--strict-signatures") as strict:
        port = strict.ports[0]
        body = {"username": "alice", "password": "wonderland"}
        send(port, "POST", DIRECT_LOGIN_PATH, CONTENT_TYPE, body).data(401, "MISSING_SIGNATURE")
        signed = {**CONTENT_TYPE, **hmac_headers()}
        tokens = send(port, "POST", DIRECT_LOGIN_PATH, signed, body).data()
        headers = {**bearer(tokens["accessToken"]), **CONTENT_TYPE}
        refresh = {"refreshToken": tokens["refreshToken"]}
        for method, path, sent in [
            ("PUT", RA_REFRESH_PATH, refresh),
            ("POST", CREATE, CAMERFIRMA_BODY),
            ("PUT", FINALIZE, {"requestCode": "x", "certificate": "x"}),
            ("DELETE", LOGOUT_PATH, None),
        ]:
            send(port, method, path, headers, sent).data(401, "MISSING_SIGNATURE")
        assert "signatures: on every call" in strict.output.read_text()


# -- in process: who may use a session ------------------------------------------------------


@pytest.fixture
def sandbox() -> Sandbox:
    config = SandboxConfig(
        partners={PARTNER: SECRET, "OTHER": OTHER_SECRET},
        users={"alice": "wonderland"},
        redirect_prefixes=("https://app.example/",),
    )
    return Sandbox(config, clock=FakeClock())


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as c:
        yield c


LOGIN_BODY = {"username": "alice", "password": "wonderland"}


def test_strict_signatures_refuse_every_unsigned_call_in_process() -> None:
    # What every API call answered before the per-endpoint rules: kept under the option.
    config = SandboxConfig(
        partners={PARTNER: SECRET},
        users={"alice": "wonderland"},
        redirect_prefixes=("https://app.example/",),
        strict_signatures=True,
    )
    sandbox = Sandbox(config, clock=FakeClock())
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as client:
        for method, path in [
            ("POST", EXCHANGE_PATH),
            ("PUT", RA_REFRESH_PATH),
            ("PUT", TUTORIAL_REFRESH_PATH),
            ("POST", DIRECT_LOGIN_PATH),
            ("DELETE", LOGOUT_PATH),
            ("POST", CREATE),
            ("PUT", FINALIZE),
        ]:
            envelope_of(client.request(method, path), 401, "MISSING_SIGNATURE")


def test_an_unsigned_login_opens_a_session_of_no_partner(
    sandbox: Sandbox, client: httpx2.Client
) -> None:
    tokens = token_data(client.post(DIRECT_LOGIN_PATH, json=LOGIN_BODY))
    (session,) = sandbox.sessions_for("alice")
    assert session.partner is None
    payload = tokens["accessToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "aud" not in claims
    # Anyone holding its tokens may use it, signed or not.
    other = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    body = {"refreshToken": tokens["refreshToken"]}
    assert token_data(client.put(RA_REFRESH_PATH, json=body, headers=other))


def test_hmac_headers_bind_a_call_to_their_partner(sandbox: Sandbox, client: httpx2.Client) -> None:
    tokens = token_data(client.post(DIRECT_LOGIN_PATH, json=LOGIN_BODY, headers=signed_headers()))
    (session,) = sandbox.sessions_for("alice")
    assert session.partner == PARTNER
    other = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    body = {"refreshToken": tokens["refreshToken"]}
    envelope_of(client.put(RA_REFRESH_PATH, json=body, headers=other), 401, "INVALID_REFRESH_TOKEN")
    foreign = {**other, **bearer(tokens["accessToken"])}
    envelope_of(client.delete(LOGOUT_PATH, headers=foreign), 401, "INVALID_BEARER")
    # Unsigned, the refresh token alone is the credential, as the RA API reference says.
    fresh = token_data(client.put(RA_REFRESH_PATH, json=body))
    assert (
        envelope_of(client.delete(LOGOUT_PATH, headers=bearer(fresh["accessToken"])), 200, "OK")
        == {}
    )
