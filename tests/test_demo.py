"""The scripted walkthrough behind `make demo` runs every step over a real socket."""

from __future__ import annotations

import pytest

from redtrust_middleware.cli import main
from redtrust_middleware.demo import walkthrough


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
    assert "walkthrough" in capsys.readouterr().out
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
        assert main(["doctor"]) == code
    captured = capsys.readouterr()
    if code:
        assert "REJECTED the signature" in captured.err
    else:
        assert "signed request accepted" in captured.out
