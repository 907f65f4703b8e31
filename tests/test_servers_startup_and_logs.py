"""The example apps under real servers: a missing setting stops the start, with its variable
named; access logs (uvicorn's, Django's ``runserver``) keep no callback ``tkn`` or ``state``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from tests.servers import (
    ROOT,
    START_TIMEOUT,
    django_command,
    example_env,
    free_port,
    migrate,
    served,
)

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox.cli import DEMO_SECRET

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

USERS = {"demo": "demo"}


def _uvicorn(target: str, port: int) -> list[str]:
    """uvicorn as the examples' docstrings run it: access log on."""
    return [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]


@pytest.mark.parametrize("app", ["fastapi_app", "starlette_app"])
def test_uvicorn_refuses_to_start_without_public_url_and_names_its_variable(
    app: str, tmp_path: Path
) -> None:
    env = example_env("http://127.0.0.1:9", "http://127.0.0.1:8000")
    del env["REDTRUST_PUBLIC_URL"]
    done = subprocess.run(
        _uvicorn(f"examples.{app}:app", free_port()),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Application startup complete" not in output
    assert "Application startup failed" in output
    assert "public_url (REDTRUST_PUBLIC_URL): is required" in output
    assert "http://127.0.0.1:8000" in output  # an example of the value to set


def _sign_in(app_url: str, sandbox: Sandbox) -> str:
    """A sign-in over the sockets; the callback URL the browser followed (tkn included)."""
    with httpx2.Client(timeout=10) as http:
        start = http.get(f"{app_url}/redtrust/login?next=%2F")
        assert start.status_code == 302, start.text
        callback = sandbox.sign_in(start.headers["location"], "demo", "demo")
        done = http.get(callback)
        assert done.status_code == 303, done.text
    return callback


def _sandbox(app_url: str) -> Sandbox:
    return Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": DEMO_SECRET}, users=USERS, redirect_prefixes=(f"{app_url}/",)
        )
    )


@pytest.mark.parametrize("server", ["uvicorn", "runserver"])
def test_access_logs_keep_no_callback_token(server: str, tmp_path: Path) -> None:
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = _sandbox(app_url)
    log = tmp_path / "server.log"
    with running(sandbox) as sandbox_url:
        env = example_env(sandbox_url, app_url)
        if server == "runserver":
            env["DJANGO_DB"] = str(tmp_path / "db.sqlite3")
            migrate(env, log)
            command = django_command("runserver", port)
        else:
            command = _uvicorn("examples.starlette_app:app", port)
        with served(command, env, log, app_url):
            callback = _sign_in(app_url, sandbox)
    query = parse_qs(urlsplit(callback).query)
    (tkn,), (state,) = query["tkn"], query["state"]
    text = log.read_text("utf-8", errors="replace")
    assert "/redtrust/callback?" in text  # the line is there ...
    assert "tkn=[redacted]" in text
    assert "state=[redacted]" in text
    assert tkn not in text  # ... without the one-time token
    assert state not in text
