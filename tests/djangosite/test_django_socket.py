"""The example Django site as a user runs it: runserver or uvicorn, the sandbox on a socket.

The site runs in a subprocess so its settings (``examples.django_site.settings``) never meet
the test process's pytest-django settings; a browser (``httpx2``) walks the whole login.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox.cli import DEMO_SECRET

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "examples" / "django_site" / "manage.py")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Site:
    """The running example site and the sandbox it signs in against."""

    url: str
    sandbox_url: str
    sandbox: Sandbox


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _server_command(server: str, port: int) -> list[str]:
    if server == "runserver":
        return [sys.executable, MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "examples.django_site.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def _wait_until_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx2.Client(timeout=2.0) as probe:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the site exited during start-up ({process.returncode})")
            try:
                if probe.get(url + "/").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the site did not answer within {START_TIMEOUT} s")
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(params=["runserver", "uvicorn"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The example site under a real server, its sandbox served over a real socket."""
    port = _free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": DEMO_SECRET},
            users={"demo": "demo"},
            redirect_prefixes=(f"{app_url}/",),
        )
    )
    log_path = tmp_path / "server.log"
    with running(sandbox) as sandbox_url, log_path.open("wb") as log:
        env = {
            **os.environ,
            "REDTRUST_SERVER_URL": sandbox_url,
            "REDTRUST_PARTNER": "CA_DEMO",
            "REDTRUST_SHARED_SECRET": DEMO_SECRET,
            "REDTRUST_PUBLIC_URL": app_url,
            "DJANGO_DB": str(tmp_path / "db.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "examples.django_site.settings",
            "PYTHONPATH": str(ROOT),
        }
        # runserver only warns about unapplied migrations: the session table needs migrate.
        subprocess.run(
            [sys.executable, MANAGE, "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=START_TIMEOUT,
        )
        process = subprocess.Popen(
            _server_command(str(request.param), port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(process, app_url)
            yield Site(url=app_url, sandbox_url=sandbox_url, sandbox=sandbox)
        finally:
            _stop(process)
            log.flush()
            # Captured by pytest: shown with the report only when the test fails.
            sys.stdout.write(log_path.read_text(errors="replace"))


def test_login_and_logout_over_real_sockets(site: Site) -> None:
    with httpx2.Client(base_url=site.url, follow_redirects=False, timeout=10.0) as browser:
        gate = browser.get("/me")
        assert gate.status_code == 302
        assert gate.headers["location"] == "/redtrust/login?next=%2Fme"

        login = browser.get("/redtrust/login", params={"next": "/me"})
        assert login.status_code == 302
        location = login.headers["location"]
        assert location.startswith(f"{site.sandbox_url}/authclient/auth/loginrequest?")

        callback = site.sandbox.sign_in(location, "demo", "demo")
        assert callback.startswith(f"{site.url}/redtrust/callback?")
        parts = urlsplit(callback)
        done = browser.get(f"{parts.path}?{parts.query}")
        assert done.status_code == 303
        assert done.headers["location"] == "/me"

        me = browser.get("/me")
        assert me.status_code == 200
        assert "demo" in me.text

        api = browser.get("/api/me")
        assert api.status_code == 200
        assert api.json()["user"] == "demo"

        out = browser.post("/redtrust/logout", headers={"origin": site.url})
        assert out.status_code == 303

        assert browser.get("/me").status_code == 302
