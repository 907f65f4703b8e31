"""SandboxConfig validation and redaction; the sandbox command line."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from redtrust_middleware.exceptions import ConfigurationError
from redtrust_middleware.sandbox import Sandbox, SandboxConfig
from redtrust_middleware.sandbox import cli as sandbox_cli

from ._support import PARTNER, SECRET

VALID: dict[str, Any] = {
    "partners": {PARTNER: SECRET},
    "users": {"alice": "wonderland-password"},
    "redirect_prefixes": ("https://app.example/",),
}


def test_defaults() -> None:
    config = SandboxConfig(**VALID)
    assert config.window_seconds == 300
    assert config.access_token_ttl == 300
    assert config.refresh_token_ttl == 8 * 3600
    assert config.temp_token_ttl == 60
    assert config.login_page_ttl == 600
    assert config.expiration_format == "utc-z"
    assert config.issuer == "redtrust-sandbox"
    assert config.max_body_bytes == 64 * 1024
    assert config.rotate_refresh_tokens is True
    assert config.domains is None


def test_repr_hides_secrets_and_passwords() -> None:
    config = SandboxConfig(**VALID)
    for text in (repr(config), str(config), repr(Sandbox(config))):
        assert SECRET not in text
        assert "wonderland-password" not in text
        assert PARTNER in text
    assert "alice" in repr(config)


def test_config_is_a_private_copy() -> None:
    partners = {PARTNER: SECRET}
    domains = {"local.users"}
    config = SandboxConfig(**{**VALID, "partners": partners, "domains": domains})
    partners["EVIL"] = "x"
    domains.add("evil")
    assert set(config.partners) == {PARTNER}
    assert config.domains == frozenset({"local.users"})
    with pytest.raises(TypeError):
        config.partners["EVIL"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"partners": {}}, "partners"),
        ({"partners": {"ca_demo": SECRET}}, "partners"),
        ({"partners": {"CA DEMO": SECRET}}, "partners"),
        ({"partners": {PARTNER: ""}}, "partners"),
        ({"partners": [(PARTNER, SECRET)]}, "partners"),
        ({"users": {"alice": ""}}, "users"),
        ({"users": {"": "pw"}}, "users"),
        ({"users": {"alice": 1}}, "users"),
        ({"domains": "local.users"}, "domains"),
        ({"domains": {""}}, "domains"),
        ({"redirect_prefixes": ()}, "redirect_prefixes"),
        ({"redirect_prefixes": "https://app.example/"}, "redirect_prefixes"),
        ({"redirect_prefixes": ("https://app.example",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("https://app.example:8443",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("ftp://app.example/",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("https://app.example/#x",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("https://user@app.example/",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("https://app.example/a b",)}, "redirect_prefixes"),
        ({"redirect_prefixes": ("/callback",)}, "redirect_prefixes"),
        ({"window_seconds": -1}, "window_seconds"),
        ({"access_token_ttl": 0}, "access_token_ttl"),
        ({"refresh_token_ttl": True}, "refresh_token_ttl"),
        ({"temp_token_ttl": 1.5}, "temp_token_ttl"),
        ({"login_page_ttl": 0}, "login_page_ttl"),
        ({"expiration_format": "iso"}, "expiration_format"),
        ({"issuer": ""}, "issuer"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"rotate_refresh_tokens": 1}, "rotate_refresh_tokens"),
    ],
)
def test_invalid_settings_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SandboxConfig(**{**VALID, **changes})
    assert caught.value.field == field
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "prefix",
    [
        "https://google.es?tkn=",
        "http://127.0.0.1:8000/",
        "https://[::1]:8443/cb",
        "https://a.example/x",
    ],
)
def test_accepted_prefixes(prefix: str) -> None:
    assert SandboxConfig(**{**VALID, "redirect_prefixes": [prefix]}).redirect_prefixes == (prefix,)


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``serve`` so ``main`` returns at once; records its arguments."""
    calls: list[dict[str, Any]] = []

    def fake_serve(sandbox: Sandbox, host: str = "", port: int | Sequence[int] = 0) -> None:
        calls.append({"sandbox": sandbox, "host": host, "port": port})

    monkeypatch.setattr(sandbox_cli, "serve", fake_serve)
    monkeypatch.delenv(sandbox_cli.SECRET_ENV, raising=False)
    return calls


def test_cli_defaults_use_the_demo_secret_loudly(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sandbox_cli.main([]) == 0
    (call,) = served
    assert call["host"] == "127.0.0.1"
    # Both profiles' default ports (redtrust-api.md §1): either config reaches it unchanged.
    assert call["port"] == (8083, 8082)
    config: SandboxConfig = call["sandbox"].config
    assert config.strict_signatures is False
    assert dict(config.partners) == {"CA_DEMO": sandbox_cli.DEMO_SECRET}
    assert dict(config.users) == {"demo": "demo"}
    assert config.redirect_prefixes == ("http://127.0.0.1:8000/", "http://localhost:8000/")
    out, err = capsys.readouterr()
    assert "http://127.0.0.1:8083 and http://127.0.0.1:8082" in out
    assert "CA_DEMO" in out
    assert "demo secret" in out
    assert "WARNING" in err


def test_cli_options(served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--host=::1",
        "--port=9000",
        "--partner=ACME",
        "--secret=cli-secret-value-0123456789",
        "--user=alice:pa:ss",
        "--user=bob:builder",
        "--domain=local.users",
        "--redirect-prefix=https://app.example/",
        "--access-ttl=60",
        "--refresh-ttl=600",
        "--window=30",
        "--expiration-format=offset",
    ]
    assert sandbox_cli.main(argv) == 0
    (call,) = served
    assert (call["host"], call["port"]) == ("::1", 9000)
    config: SandboxConfig = call["sandbox"].config
    assert dict(config.partners) == {"ACME": "cli-secret-value-0123456789"}
    assert dict(config.users) == {"alice": "pa:ss", "bob": "builder"}
    assert config.domains == frozenset({"local.users"})
    assert config.redirect_prefixes == ("https://app.example/",)
    assert (config.access_token_ttl, config.refresh_token_ttl) == (60, 600)
    assert config.window_seconds == 30
    assert config.expiration_format == "offset"
    out, err = capsys.readouterr()
    assert "cli-secret-value" not in out + err
    assert "pa:ss" not in out + err
    assert "builder" not in out + err
    assert "http://[::1]:9000" in out
    assert "alice, bob" in out
    assert "from --secret" in out
    assert "WARNING" not in err


def test_cli_secret_from_the_environment(
    served: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sandbox_cli.SECRET_ENV, "env-secret-value-0123456789")
    assert sandbox_cli.main([]) == 0
    assert dict(served[0]["sandbox"].config.partners) == {"CA_DEMO": "env-secret-value-0123456789"}
    out, err = capsys.readouterr()
    assert "env-secret-value" not in out + err
    assert sandbox_cli.SECRET_ENV in out


def test_cli_bad_config_exits_2(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sandbox_cli.main(["--partner=lower", "--secret=cli-secret-value"]) == 2
    assert not served
    assert "partners" in capsys.readouterr().err


@pytest.mark.parametrize("user", ["nocolon", ":pw", "name:"])
def test_cli_bad_user(served: list[dict[str, Any]], user: str) -> None:
    with pytest.raises(SystemExit) as caught:
        sandbox_cli.main([f"--user={user}"])
    assert caught.value.code == 2


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "redtrust_middleware.sandbox", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--redirect-prefix" in result.stdout


def test_cli_port_is_repeatable_and_one_port_stays_one(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sandbox_cli.main(["--port=9000", "--port=9001", "--port=9000"]) == 0
    assert served[0]["port"] == (9000, 9001)
    assert "http://127.0.0.1:9000 and http://127.0.0.1:9001" in capsys.readouterr().out
    assert sandbox_cli.main(["--port=9002"]) == 0
    assert served[1]["port"] == 9002


@pytest.mark.parametrize("port", ["0", "65536", "80a", "-1"])
def test_cli_bad_port(served: list[dict[str, Any]], port: str) -> None:
    with pytest.raises(SystemExit) as caught:
        sandbox_cli.main([f"--port={port}"])
    assert caught.value.code == 2


def test_cli_strict_signatures(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sandbox_cli.main(["--strict-signatures"]) == 0
    assert served[0]["sandbox"].config.strict_signatures is True
    assert "signatures: on every call" in capsys.readouterr().out


@pytest.mark.network
def test_a_port_in_use_is_named_with_the_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(sandbox_cli.SECRET_ENV, raising=False)
    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        busy, other = taken.getsockname()[1], free.getsockname()[1]
        free.close()  # only its number is wanted: nothing gets served, the busy port stops it
        assert sandbox_cli.main([f"--port={other}", f"--port={busy}"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{busy}" in err
    assert f"--port {other} to serve only that one" in err
