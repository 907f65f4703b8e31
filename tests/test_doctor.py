"""``redtrust doctor`` against real servers: the sandbox as a user runs it, a plain-HTTP server
reached with https, a TLS server with a self-signed certificate, a real redis-server."""

from __future__ import annotations

import datetime
import http.server
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.servers import free_port

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware.cli import main
from redtrust_middleware.doctor import check_redis, run_checks
from redtrust_middleware.doctor._redis import _redis_version
from redtrust_middleware.sandbox.cli import SECRET_ENV
from redtrust_middleware.testing import RedisServer

pytestmark = pytest.mark.network

SECRET = "doctor-test-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m redtrust_middleware.sandbox`` on a free port, as a user starts it."""
    port = free_port()
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    argv = [sys.executable, "-m", "redtrust_middleware.sandbox", "--port", str(port)]
    argv += ["--partner", "CA_DEMO", "--redirect-prefix", "http://127.0.0.1:8000/"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, SECRET_ENV: SECRET}
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def doctor_env(server_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDTRUST_")}
    env.update(
        REDTRUST_SERVER_URL=server_url,
        REDTRUST_PARTNER="CA_DEMO",
        REDTRUST_SHARED_SECRET=SECRET,
        REDTRUST_PUBLIC_URL="http://127.0.0.1:8000",
    )
    env.update(extra)
    return env


def run_doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redtrust_middleware.cli", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def config(server_url: str, **overrides: object) -> RedtrustConfig:
    values: dict[str, object] = {
        "server_url": server_url,
        "partner": "CA_DEMO",
        "shared_secret": SECRET,
        "public_url": "http://127.0.0.1:8000",
    }
    values.update(overrides)
    return RedtrustConfig(**values)  # type: ignore[arg-type]


def line(report_lines: list[str], check: str) -> str:
    (found,) = [text for text in report_lines if text.split(" ", 1)[-1].lstrip().startswith(check)]
    return found


# --- against the sandbox ------------------------------------------------------------------


def test_every_check_passes_against_the_sandbox(sandbox_url: str) -> None:
    done = run_doctor(doctor_env(sandbox_url))
    assert done.returncode == 0, done.stdout + done.stderr
    for check in ("settings:", "public_url:", "server:", "signature:", "clock:"):
        assert re.search(rf"^ok +{check}", done.stdout, re.MULTILINE), done.stdout
    assert "RedirectUrl is http://127.0.0.1:8000/redtrust/callback" in done.stdout


def test_a_wrong_shared_secret_is_named(sandbox_url: str) -> None:
    done = run_doctor(doctor_env(sandbox_url, REDTRUST_SHARED_SECRET="wrong-secret-0123456789"))
    assert done.returncode == 1
    assert "fail signature: the server refused the signature (INVALID_SIGNATURE)" in done.stdout
    assert "fix: set REDTRUST_SHARED_SECRET" in done.stdout


def test_https_against_a_plain_http_server_says_so(sandbox_url: str) -> None:
    https = sandbox_url.replace("http://", "https://")
    done = run_doctor(doctor_env(https))
    assert done.returncode == 1
    where = https.removeprefix("https://")
    assert f"the server at {where} answered plain HTTP to a TLS handshake" in done.stdout
    assert "use http://" in done.stdout
    assert "ConnectError" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("offset", "clock", "signature"), [(30, "warn", "ok"), (600, "fail", "fail")]
)
def test_a_skewed_clock_is_measured_from_the_date_header(
    sandbox_url: str, offset: int, clock: str, signature: str
) -> None:
    # The sandbox keeps the real time; this machine's clock is put ahead by ``offset``.
    report = run_checks(config(sandbox_url), clock=lambda: time.time() + offset)
    lines = report.lines()
    assert line(lines, "clock:").startswith(clock)
    assert f"clock is {offset} s ahead of the server's" in line(lines, "clock:")
    assert line(lines, "signature:").startswith(signature)
    if signature == "fail":
        assert "STALE_TIMESTAMP" in line(lines, "signature:")
    assert report.failed is (clock == "fail")


def test_every_settings_problem_is_shown_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("REDTRUST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDTRUST_SERVER_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("REDTRUST_SHARED_SECRET", SECRET)
    monkeypatch.setenv("REDTRUST_TIMEOUT", "soon")
    monkeypatch.setenv("REDTRUST_PUBLIC_URL", "ftp://app.example")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    failed = [text for text in out.splitlines() if text.startswith("fail settings:")]
    assert len(failed) == 3, out
    for variable in ("REDTRUST_PARTNER", "REDTRUST_TIMEOUT", "REDTRUST_PUBLIC_URL"):
        assert variable in out
    assert "fix: for example REDTRUST_TIMEOUT=10" in out


def test_a_partner_with_a_hyphen_is_refused_for_the_hyphen_not_for_lower_case() -> None:
    assert RedtrustConfig.from_env(doctor_env("http://127.0.0.1:1", REDTRUST_PARTNER="ca_demo"))
    env = doctor_env("http://127.0.0.1:1", REDTRUST_PARTNER="ca-demo")
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env)
    assert caught.value.field == "REDTRUST_PARTNER"
    assert "lower case is upper-cased for you" in caught.value.problem
    assert "'-' cannot be part of it; write '_' instead of '-'" in caught.value.problem
    assert "ca-demo" not in str(caught.value)  # the value itself is never shown


def test_public_url_problems(sandbox_url: str) -> None:
    doubled = config(
        sandbox_url, public_url="https://app.example/shop", callback_path="/shop/redtrust/callback"
    )
    found = line(run_checks(doubled).lines(), "public_url:")
    assert found.startswith("fail")
    assert "RedirectUrl would be https://app.example/shop/shop/redtrust/callback" in found
    plain = config(sandbox_url, public_url="http://app.example")
    assert line(run_checks(plain).lines(), "public_url:").startswith("fail")
    assert line(run_checks(plain, production=False).lines(), "public_url:").startswith("warn")


def test_the_jwk_set_needs_a_usable_key(sandbox_url: str) -> None:
    symmetric = {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}
    report = run_checks(config(sandbox_url, jwks=symmetric))
    assert line(report.lines(), "jwks:").startswith("fail jwks: none of the 1 key(s)")
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    public = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(key.x.to_bytes(32, "big")),
        "y": _b64(key.y.to_bytes(32, "big")),
        "use": "sig",
    }
    report = run_checks(config(sandbox_url, jwks={"keys": [public]}))
    assert line(report.lines(), "jwks:") == "ok   jwks: 1 of 1 key(s) usable"


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- TLS certificates ----------------------------------------------------------------------


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the doctor's probe: answered, though not as Redtrust
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client refusing the certificate ends its handshake: expected here


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = _self_signed(tmp_path)
    server = _TLSServer(("127.0.0.1", 0), _Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_certificate_that_fails_verification_is_named(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    found = line(run_checks(config(url)).lines(), "tls:")
    # OpenSSL's own words for X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT.
    assert re.search(r"failed verification: self.signed certificate", found), found
    report = run_checks(config(url, ca_bundle=str(cert))).lines()
    assert re.match(
        r"ok   tls: 127\.0\.0\.1:\d+: TLSv1\.[23] with a verified certificate", line(report, "tls:")
    )
    assert "REDTRUST_CA_BUNDLE" in "\n".join(run_checks(config(url)).lines())


# --- Redis --------------------------------------------------------------------------------


def test_redis_is_checked_with_a_probe_key(sandbox_url: str, redis_server: RedisServer) -> None:
    done = run_doctor(doctor_env(sandbox_url, REDTRUST_REDIS_URL=redis_server.url))
    assert done.returncode == 0, done.stdout
    assert re.search(
        r"^ok   redis: Redis \d+\.\d+\.\d+ \(needs 6\.2 or later\)$", done.stdout, re.M
    )
    assert (
        f"ok   redis: 127.0.0.1:{redis_server.port}: a probe key written, read and deleted"
        in done.stdout
    )
    import redis

    with redis.Redis.from_url(redis_server.url) as raw:
        assert raw.dbsize() == 0  # the probe key is gone
    redis_server.stop()
    found = check_redis(redis_server.url)
    assert [f.status for f in found] == ["fail"]
    assert "cannot be reached" in found[0].message


def test_a_redis_older_than_6_2_is_refused() -> None:
    # GETDEL, the store's atomic take, is "Available since: 6.2.0" in the Redis docs.
    assert _redis_version("6.0.16", "r:6379")[0].status == "fail"
    assert _redis_version("6.2.0", "r:6379")[0].status == "ok"
    assert _redis_version("7.2.4", "r:6379")[0].status == "ok"
