"""`make demo` (the sandbox and the demo app together) and the scripted walkthrough."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from redtrust_middleware.cli import main
from redtrust_middleware.cli.walkthrough import walkthrough
from redtrust_middleware.cli.webdemo import DemoError, started

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.network
def test_demo_serves_the_app_and_the_sandbox_and_prints_requests_without_queries() -> None:
    lines: list[str] = []
    with started("127.0.0.1", 0, 0, say=lines.append) as demo, httpx2.Client(timeout=5) as http:
        assert demo.alive()
        home = http.get(f"{demo.app_url}/")
        assert home.status_code == 200
        assert "This page is public" in home.text
        me = http.get(f"{demo.app_url}/me")
        assert me.status_code == 302
        login = http.get(f"{demo.app_url}{me.headers['location']}")
        assert login.status_code == 302
        assert login.headers["location"].startswith(f"{demo.sandbox_url}/authclient/auth/")
        page = http.get(login.headers["location"])
        assert page.status_code == 200
        assert 'name="username"' in page.text
        stray = http.get(f"{demo.app_url}/redtrust/callback", params={"tkn": "secret-tkn-value"})
        assert stray.status_code == 400
    assert "app      GET / 200" in "\n".join(lines)
    assert any(line.endswith("app      GET /me 302") for line in lines)
    assert any(line.endswith("sandbox  GET /authclient/auth/loginrequest 200") for line in lines)
    assert any(line.endswith("app      GET /redtrust/callback 400") for line in lines)
    printed = "\n".join(lines)
    for secret in ("secret-tkn-value", "tkn=", "hmac", "?"):
        assert secret not in printed


@pytest.mark.network
@pytest.mark.parametrize("which", ["app", "sandbox"])
def test_demo_refuses_a_busy_port_clearly(which: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"app_port": 0, "sandbox_port": 0, f"{which}_port": port}
        with (
            pytest.raises(DemoError, match=rf"127\.0\.0\.1:{port} .*--{which}-port"),
            started("127.0.0.1", say=lambda line: None, **ports),
        ):
            pass  # pragma: no cover
        assert main(["demo", f"--{which}-port", str(port)]) == 1


@pytest.mark.network
@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_redtrust_demo_prints_the_url_and_stops_cleanly(stop: signal.Signals) -> None:
    command = [sys.executable, "-m", "redtrust_middleware.cli", "demo"]
    process = subprocess.Popen(
        [*command, "--app-port", "0", "--sandbox-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "Ctrl-C" not in "".join(banner):
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line)
        text = "".join(banner)
        assert "open      http://127.0.0.1:" in text
        assert "user 'demo', password 'demo'" in text
        url = next(line.split()[1] for line in banner if line.strip().startswith("open"))
        assert httpx2.get(url, timeout=5).status_code == 302  # /me: sign in first
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10)
    assert process.returncode == 0, err
    assert "GET /me 302" in out
    assert out.rstrip().endswith("stopped")
    assert "Traceback" not in err


@pytest.mark.network
@pytest.mark.parametrize("profile", ["certificate-enroll", "ra-api"])
def test_walkthrough_completes(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert walkthrough(profile) == 0
    out = capsys.readouterr().out
    for step in (
        "Login start",
        "User signs in",
        "Callback",
        "refreshed once",
        "Replayed",
        "Logout",
        "no session: sign in again",
        "Direct login",
    ):
        assert step in out
    assert "exchange=1" in out
    assert "refresh=1" in out
    assert ("logout=1" in out) == (profile == "ra-api")


def test_cli_lists_commands_and_refuses_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert "walkthrough" in usage
    assert "demo" in usage
    assert main(["no-such-command"]) == 2
    assert "usage" in capsys.readouterr().err


def test_login_url_needs_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("REDTRUST_SERVER_URL", "REDTRUST_PARTNER", "REDTRUST_SHARED_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["login-url"]) == 2
    assert "REDTRUST_SERVER_URL" in capsys.readouterr().err


def test_login_url_prints_a_signed_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDTRUST_SERVER_URL", "https://redtrust.example")
    monkeypatch.setenv("REDTRUST_PARTNER", "CA_DEMO")
    monkeypatch.setenv("REDTRUST_SHARED_SECRET", "s" * 32)
    monkeypatch.setenv("REDTRUST_PUBLIC_URL", "https://app.example")
    assert main(["login-url"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://redtrust.example:8083/authclient/auth/loginrequest?Consumer=")
    assert "RedirectUrl=https%3A%2F%2Fapp.example%2Fredtrust%2Fcallback%3Fstate%3D" in url


@pytest.mark.network
@pytest.mark.parametrize(("secret", "code"), [(None, 0), ("wrong-secret-wrong-secret", 1)])
def test_doctor_checks_the_signature_against_a_live_server(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret: str | None,
    code: int,
) -> None:
    from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running

    real = "doctor-test-secret-0123456789"
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": real},
            users={"demo": "demo"},
            redirect_prefixes=("http://127.0.0.1:8000/",),
        )
    )
    with running(sandbox) as url:
        monkeypatch.setenv("REDTRUST_SERVER_URL", url)
        monkeypatch.setenv("REDTRUST_PARTNER", "CA_DEMO")
        monkeypatch.setenv("REDTRUST_SHARED_SECRET", secret or real)
        monkeypatch.setenv("REDTRUST_PUBLIC_URL", "http://127.0.0.1:8000")  # checked too
        assert main(["doctor"]) == code
    captured = capsys.readouterr()
    if code:
        assert "fail signature: the server refused the signature (INVALID_SIGNATURE)" in (
            captured.out
        )
    else:
        assert "ok   signature: partner CA_DEMO's signature accepted" in captured.out
