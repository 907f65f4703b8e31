"""The example apps under real servers: a missing setting stops the start, with its variable
named; access logs (uvicorn's, gunicorn's, Django's ``runserver``) keep no callback ``tkn`` or
``state``; the bare WSGI example and the Flask one sign in under gunicorn with several
threaded workers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from tests.servers import (
    ROOT,
    START_TIMEOUT,
    WSGI_TARGETS,
    django_command,
    example_env,
    free_port,
    gunicorn_command,
    migrate,
    served,
    session_app_env,
)
from tests.web.conftest import page_signout_token

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox.cli import DEMO_SECRET
from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET, TEST_USERS, RedisServer

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


def test_gunicorn_refuses_to_load_the_wsgi_app_without_public_url_and_names_its_variable(
    tmp_path: Path,
) -> None:
    env = example_env("http://127.0.0.1:9", "http://127.0.0.1:8000")
    del env["REDTRUST_PUBLIC_URL"]
    done = subprocess.run(
        gunicorn_command("examples.wsgi_app:app", free_port(), workers=1),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output  # the worker fails to boot, and so does gunicorn
    assert "public_url (REDTRUST_PUBLIC_URL): is required" in output
    assert "http://127.0.0.1:8000" in output


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


@pytest.mark.parametrize("server", ["uvicorn", "runserver", "gunicorn"])
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
        elif server == "gunicorn":  # as docs/wsgi.md runs it: threads, access log on
            command = gunicorn_command("examples.wsgi_app:app", port, access_log=True)
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


@pytest.mark.parametrize("site", sorted(WSGI_TARGETS))
def test_the_wsgi_app_under_gunicorn_workers_signs_in_refreshes_and_signs_out(
    site: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    """Two gthread workers on one Redis: each request may land on either worker."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(f"{app_url}/",),
            access_token_ttl=61,  # within the 60 s refresh leeway a second after the sign-in
            refreshed_access_token_ttl=3600,
        )
    )
    with running(sandbox) as sandbox_url:
        env = session_app_env(sandbox_url, app_url, redis_server.url)
        command = gunicorn_command(WSGI_TARGETS[site], port, workers=2)
        with (
            served(command, env, tmp_path / "gunicorn.log", app_url),
            httpx2.Client(base_url=app_url, timeout=10) as browser,
        ):
            page = browser.get("/me")
            assert page.status_code == 302
            assert page.headers["location"] == "/redtrust/login?next=%2Fme"
            api = browser.get("/api/me")
            assert api.status_code == 401
            assert api.json()["error"] == "not_authenticated"
            start = browser.get(page.headers["location"])
            callback = sandbox.sign_in(start.headers["location"], "alice", TEST_USERS["alice"])
            done = browser.get(callback)
            assert done.status_code == 303
            assert done.headers["location"] == "/me"
            cookie = done.headers.get_list("set-cookie")[0]
            assert cookie.startswith("redtrust_session=")  # http: no __Host- prefix
            flags = {part.strip() for part in cookie.split(";")[1:]}
            assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= flags
            deadline = time.time() + 1.05
            while time.time() < deadline:  # the token enters the refresh leeway
                threading.Event().wait(0.05)
            seen = {browser.get("/api/me").json()["user"] for _ in range(20)}
            assert seen == {"alice"}
            assert sandbox.calls["refresh"] == 1
            confirm = browser.get("/redtrust/logout")
            token = page_signout_token(confirm.text)
            out = browser.post(
                "/redtrust/logout", data={"redtrust_signout": token}, headers={"origin": app_url}
            )
            assert out.status_code == 303
            assert browser.get("/me").status_code == 302


def test_the_fastapi_example_under_uvicorn_documents_its_cookie_and_requires_works(
    tmp_path: Path,
) -> None:
    from openapi_spec_validator import validate

    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = _sandbox(app_url)
    with running(sandbox) as sandbox_url:
        env = example_env(sandbox_url, app_url)
        command = _uvicorn("examples.fastapi_app:app", port)
        with served(command, env, tmp_path / "server.log", app_url), httpx2.Client() as http:
            document = http.get(f"{app_url}/openapi.json").json()
            validate(document)
            assert http.get(f"{app_url}/docs").status_code == 200
            # Starlette's requires() on /account: its redirect, a sign-in, and back.
            account = http.get(f"{app_url}/account")
            assert account.status_code == 303
            start = http.get(account.headers["location"])
            done = http.get(sandbox.sign_in(start.headers["location"], "demo", "demo"))
            assert done.headers["location"] == "/account"
            assert "Signed in as <strong>demo</strong>" in http.get(f"{app_url}/account").text
    scheme = document["components"]["securitySchemes"]["redtrust"]
    assert scheme["name"] == done.headers["set-cookie"].split("=", 1)[0] == "redtrust_session"
    assert document["paths"]["/api/me"]["get"]["security"] == [{"redtrust": []}]
