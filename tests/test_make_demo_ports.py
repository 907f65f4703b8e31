"""``make demo``, ``make demo-django`` and ``make demo-flask`` on other ports (``APP_PORT``,
``SANDBOX_PORT``), as the README shows: the app answers on its port, the sandbox on its own,
and signing in works, since the sandbox accepts the moved app's ``RedirectUrl``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx2
import pytest
from tests.servers import stop_group

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
START_TIMEOUT = 60.0

pytestmark = [pytest.mark.network, pytest.mark.timeout(300)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def make_running(target: str, tmp_path: Path, **variables: str) -> Iterator[None]:
    """``make target VAR=value ...`` from the checkout, with this interpreter's environment
    as the Makefile's ``.venv`` (``BIN``) and its install stamp taken as done."""
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml: make does not reinstall
    argv = ["make", "--no-print-directory", target, f"BIN={Path(sys.executable).parent}"]
    argv += [f"STAMP={stamp}", *(f"{name}={value}" for name, value in variables.items())]
    # The suite's own DJANGO_SETTINGS_MODULE and REDTRUST_* would win over the example's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDTRUST_", "DJANGO_"))}
    env["DJANGO_DB"] = str(tmp_path / "db.sqlite3")
    log = tmp_path / f"{target}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    except BaseException:
        print(log.read_text(errors="replace"))  # noqa: T201 - shown with the failure
        raise
    finally:
        stop_group(process)


def wait_for(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            httpx2.get(url, timeout=2)
            return
        except httpx2.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling a starting server


def sign_in(app: str, sandbox: str) -> str:
    """demo/demo signs in through the app at ``app``; the page of ``/me``."""
    with httpx2.Client(timeout=10) as browser:
        to_login = browser.get(app + "/me")
        assert to_login.status_code == 302
        to_sandbox = browser.get(urljoin(app, to_login.headers["location"]))
        assert to_sandbox.status_code == 302
        login_page = to_sandbox.headers["location"]
        assert login_page.startswith(sandbox + "/authclient/auth/loginrequest?")
        form = browser.get(login_page)
        assert form.status_code == 200, form.text  # a refused RedirectUrl is a 400 here
        fields = {**dict(HIDDEN.findall(form.text)), "username": "demo", "password": "demo"}
        signed = browser.post(urljoin(login_page, "/authclient/auth/login"), data=fields)
        assert signed.status_code == 302
        assert signed.headers["location"].startswith(app + "/redtrust/callback?")
        landed = browser.get(signed.headers["location"])
        assert landed.status_code in (302, 303)
        page = browser.get(urljoin(app, landed.headers["location"]))
        assert page.status_code == 200
        return page.text


@pytest.mark.parametrize("target", ["demo", "demo-django", "demo-flask"])
def test_demo_targets_move_both_ports_and_sign_in(target: str, tmp_path: Path) -> None:
    app_port, sandbox_port = free_port(), free_port()
    app = f"http://127.0.0.1:{app_port}"
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    with make_running(target, tmp_path, APP_PORT=str(app_port), SANDBOX_PORT=str(sandbox_port)):
        wait_for(app + "/")
        wait_for(sandbox + "/")
        assert "Signed in as <strong>demo</strong>" in sign_in(app, sandbox)


def test_the_ports_default_to_the_readme_ones(tmp_path: Path) -> None:
    stamp = tmp_path / "installed"
    stamp.touch()
    recipe = subprocess.run(
        ["make", "-n", "demo", "demo-django", f"STAMP={stamp}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "redtrust demo --app-port 8000 --sandbox-port 8083" in recipe
    assert "--port 8083" in recipe
    assert "--redirect-prefix http://127.0.0.1:8000/ --redirect-prefix http://localhost:8000/" in (
        " ".join(recipe.split())
    )
    assert "runserver 127.0.0.1:8000" in recipe
