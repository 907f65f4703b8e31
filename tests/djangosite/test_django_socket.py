"""The example Django site as a user runs it: runserver or uvicorn, the sandbox on a socket.

The site runs in a subprocess so its settings (``examples.django_site.settings``) never meet
the test process's pytest-django settings; a browser (``httpx2``) walks the whole login.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from tests.servers import django_command, example_env, free_port, migrate, served

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox.cli import DEMO_SECRET

pytestmark = pytest.mark.network


@dataclass(frozen=True)
class Site:
    """The running example site and the sandbox it signs in against."""

    url: str
    sandbox_url: str
    sandbox: Sandbox


@pytest.fixture(params=["runserver", "uvicorn"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The example site under a real server, its sandbox served over a real socket."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": DEMO_SECRET},
            users={"demo": "demo"},
            redirect_prefixes=(f"{app_url}/",),
        )
    )
    log = tmp_path / "server.log"
    with running(sandbox) as sandbox_url:
        env = example_env(sandbox_url, app_url, DJANGO_DB=str(tmp_path / "db.sqlite3"))
        try:
            migrate(env, log)
            with served(django_command(str(request.param), port), env, log, app_url):
                yield Site(url=app_url, sandbox_url=sandbox_url, sandbox=sandbox)
        finally:
            # Captured by pytest: shown with the report only when the test fails.
            sys.stdout.write(log.read_text(errors="replace") if log.exists() else "")


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
