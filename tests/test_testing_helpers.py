"""The test helpers a user's suite signs its test clients in with, used as a user would.

docs/testing.md's test modules run here as they are: the FastAPI and Starlette ones under
pytest with the package's plugin (pytester), the Django ones in a new ``django-admin
startproject`` project, under ``manage.py test`` and under pytest-django. Each goes through the
real sign-in (login route, sandbox page, callback) of a blank app.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from tests.test_docs_snippets import Block, read_blocks

from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_APP_URL,
    FakeClock,
    asign_in,
    expire_access_token,
    make_async_manager,
    make_config,
    make_sandbox,
    sign_in,
    sign_out,
)
from redtrust_starlette import RedtrustMiddleware
from redtrust_starlette.fastapi import RedtrustSession

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "testing.md"
FILE_LINE = re.compile(r"# (?P<path>[\w/]+\.py)$")


def modules(block: Block) -> dict[str, str]:
    """The block's files, split at its ``# <path>.py`` lines."""
    files: dict[str, list[str]] = {}
    current: list[str] = []
    for line in block.source.split("\n"):
        match = FILE_LINE.match(line)
        if match:
            current = files.setdefault(match["path"], [])
        else:
            current.append(line)
    return {path: "\n".join(lines) for path, lines in files.items()}


def documented(first_file: str) -> dict[str, str]:
    """The files of the docs/testing.md block that starts with ``# <first_file>``."""
    blocks, _ = read_blocks(PAGE)
    (block,) = (b for b in blocks if b.source.startswith(f"# {first_file}\n"))
    return modules(block)


def run_suite(pytester: pytest.Pytester, files: dict[str, str], passed: int) -> None:
    for path, code in files.items():
        pytester.makepyfile(**{path.removesuffix(".py"): code})
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:django", "-W", "error"
    )
    result.assert_outcomes(passed=passed)


def test_the_fastapi_test_module_passes(pytester: pytest.Pytester) -> None:
    run_suite(pytester, documented("test_app.py"), passed=5)


def test_the_starlette_async_test_module_passes(pytester: pytest.Pytester) -> None:
    run_suite(pytester, documented("test_starlette_app.py"), passed=1)


# -- the refusals a user meets, each naming its fix ---------------------------------------------


def _fastapi_app(sandbox_users: dict[str, str] | None = None) -> tuple[FastAPI, Sandbox]:
    sandbox = make_sandbox(clock=FakeClock(), users=sandbox_users)
    config = make_config()
    manager = make_async_manager(sandbox, config)
    app = FastAPI(middleware=[Middleware(RedtrustMiddleware, config=config, manager=manager)])

    @app.get("/api/me")
    async def me(session: RedtrustSession) -> dict[str, str | None]:
        return {"user": session.subject}

    return app, sandbox


def test_a_client_at_another_base_url_is_told_the_one_to_use() -> None:
    app, sandbox = _fastapi_app()
    with TestClient(app) as client, pytest.raises(RuntimeError) as refused:  # http://testserver
        sign_in(client, sandbox, "alice")
    assert "base_url='https://app.test'" in str(refused.value)


def test_the_config_given_names_public_url_before_any_request() -> None:
    app, sandbox = _fastapi_app()
    with TestClient(app) as client, pytest.raises(RuntimeError, match="public_url is"):
        sign_in(client, sandbox, config=make_config())
    assert sandbox.calls["loginrequest"] == 0


def test_an_unknown_user_is_told_how_to_add_one() -> None:
    app, sandbox = _fastapi_app()
    with (
        TestClient(app, base_url=TEST_APP_URL) as client,
        pytest.raises(ValueError, match=r"make_sandbox\(users=\{'carol'"),
    ):
        sign_in(client, sandbox, "carol")


def test_any_subject_signs_in_once_the_sandbox_knows_it() -> None:
    app, sandbox = _fastapi_app({"ana.garcía@example.es": "contraseña"})
    with TestClient(app, base_url=TEST_APP_URL) as client:
        sign_in(client, sandbox, "ana.garcía@example.es")
        assert client.get("/api/me").json() == {"user": "ana.garcía@example.es"}


def test_a_wrong_password_is_a_refused_sign_in() -> None:
    app, sandbox = _fastapi_app()
    with (
        TestClient(app, base_url=TEST_APP_URL) as client,
        pytest.raises(ValueError, match="the sign-in answered"),
    ):
        sign_in(client, sandbox, "alice", "wrong")


def test_the_real_clock_cannot_be_moved() -> None:
    with pytest.raises(TypeError, match=r"make_sandbox\(clock=FakeClock\(\)\)"):
        expire_access_token(make_sandbox())


def test_sign_out_without_a_session_still_lands() -> None:
    app, _ = _fastapi_app()
    with TestClient(app, base_url=TEST_APP_URL) as client:
        assert sign_out(client).status_code == 303


@pytest.mark.anyio
async def test_the_async_helpers_go_through_the_login_route() -> None:
    app, sandbox = _fastapi_app()
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=TEST_APP_URL) as client:
        done = await asign_in(client, sandbox, "bob", next_url="/api/me")
        assert done.headers["location"] == "/api/me"
        assert (await client.get("/api/me")).json() == {"user": "bob"}
    assert sandbox.calls["login_form"] == 1


# -- Django: a new startproject project ---------------------------------------------------------

SETTINGS = """
INSTALLED_APPS += ["redtrust_django", "pages"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
    "redtrust_django.middleware.RedtrustMiddleware",
)
# The production values; the tests point the site at the sandbox.
REDTRUST = {
    "SERVER_URL": "https://redtrust.mysite.example",
    "PARTNER": "MYSITE",
    "SHARED_SECRET": "the-real-shared-secret-0123456789",
    "PUBLIC_URL": "https://mysite.example",
}
"""
URLS = """
from django.urls import include
from pages.views import me

urlpatterns += [path("redtrust/", include("redtrust_django.urls")), path("me/", me)]
"""
VIEWS = """
from django.http import HttpResponse
from redtrust_django.decorators import redtrust_required


@redtrust_required
def me(request):
    return HttpResponse(f"signed in as {request.redtrust.subject}")
"""


def _run(argv: list[str], project: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{' '.join(argv[1:])}`:\n{output}"
    return output


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh ``startproject`` site with the app installed and a protected ``/me/``."""
    site = tmp_path / "site"
    site.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDTRUST_", "DJANGO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    django = [sys.executable, "-m", "django"]
    _run([*django, "startproject", "mysite", "."], site, env)
    _run([*django, "startapp", "pages"], site, env)
    with (site / "mysite" / "settings.py").open("a", encoding="utf-8") as file:
        file.write(SETTINGS)
    with (site / "mysite" / "urls.py").open("a", encoding="utf-8") as file:
        file.write(URLS)
    (site / "pages" / "views.py").write_text(VIEWS, "utf-8")
    return site, env


def test_the_django_test_case_passes_under_manage_py_test(
    project: tuple[Path, dict[str, str]],
) -> None:
    site, env = project
    for path, code in documented("pages/tests.py").items():
        (site / path).write_text(code, "utf-8")
    out = _run([sys.executable, "manage.py", "test", "pages", "-v", "2"], site, env)
    assert "Ran 4 tests" in out, out
    assert re.search(r"^OK$", out, re.MULTILINE), out
    assert "another address" not in out, out  # signed in at PUBLIC_URL's host, as browsers are


def test_the_pytest_django_fixture_passes(project: tuple[Path, dict[str, str]]) -> None:
    site, env = project
    for path, code in documented("conftest.py").items():
        (site / path).write_text(code, "utf-8")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ds", "mysite.settings"]
    out = _run([*argv, "-q", "-W", "error"], site, env)
    assert re.search(r"\b2 passed\b", out), out


# -- Django: the refusals, in this repository's test site ---------------------------------------


def test_django_settings_that_do_not_point_at_the_sandbox_are_named(settings: Any) -> None:
    from django.test import Client

    from redtrust_django.testing import sign_in as django_sign_in
    from redtrust_django.testing import use_sandbox
    from redtrust_middleware import ConfigurationError

    settings.REDTRUST = {**settings.REDTRUST, "PARTNER": "MYSITE"}
    with use_sandbox(make_sandbox()) as sandbox, pytest.raises(ConfigurationError) as refused:
        django_sign_in(Client(), sandbox)
    assert refused.value.field == "REDTRUST['PARTNER']"
    assert "sandbox_settings(sandbox)" in str(refused.value)
    assert sandbox.calls["loginrequest"] == 0


def test_django_sandbox_settings_keep_the_sites_other_keys(settings: Any) -> None:
    from redtrust_django.testing import sandbox_settings

    settings.REDTRUST = {**settings.REDTRUST, "PARTNER": "MYSITE", "TIMEOUT": 7}
    overrides = sandbox_settings()
    assert overrides["REDTRUST"]["TIMEOUT"] == 7
    assert overrides["REDTRUST"]["PARTNER"] == "CA_TEST"
    assert overrides["REDTRUST"]["PUBLIC_URL"] == "https://testserver"


@pytest.mark.django_db
def test_the_django_sign_in_runs_the_sites_own_login(settings: Any) -> None:
    """Not a forged session: the callback view runs, so RedtrustBackend logs the user in and
    Django's own ``login_required`` (the example site's /account/) lets her through."""
    from django.test import Client

    from redtrust_django.testing import sandbox_settings, use_sandbox
    from redtrust_django.testing import sign_in as django_sign_in
    from redtrust_django.testing import sign_out as django_sign_out

    sandbox = make_sandbox(clock=FakeClock())
    for name, value in sandbox_settings(sandbox).items():
        setattr(settings, name, value)
    client = Client()
    with use_sandbox(sandbox):
        assert client.get("/account/").status_code == 302
        django_sign_in(client, sandbox, "bob", next_url="/account/")
        account = client.get("/account/")
        assert account.status_code == 200
        assert b"bob" in account.content
        django_sign_out(client)
        assert client.get("/account/").status_code == 302
