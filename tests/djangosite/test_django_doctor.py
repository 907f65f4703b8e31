"""The Django checks report every problem at once, a fresh project is not warned, and
``manage.py redtrust_doctor`` runs the doctor on Django's ``REDTRUST`` setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from tests.test_doctor import SECRET
from tests.test_doctor import sandbox_url as sandbox_url  # the fixture

from redtrust_django.conf import read_settings
from redtrust_middleware import ConfigurationError

BASE = {
    "SERVER_URL": "https://redtrust.test",
    "PARTNER": "CA_TEST",
    "SHARED_SECRET": "redtrust-testing-secret-0123456789",
    "PUBLIC_URL": "https://app.test",
}


def check_output() -> str:
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    return str(caught.value)


def test_three_mistakes_give_three_errors_in_one_check() -> None:
    wrong = {**BASE, "PARTNER": "ca-test", "TIMEOUT": "soon", "PUBLIC_URL": "ftp://app.test"}
    with override_settings(REDTRUST=wrong):
        text = check_output()
    assert text.count("redtrust.E002") == 3, text
    assert "REDTRUST['PARTNER']: must be letters" in text
    assert "REDTRUST['TIMEOUT']: must be a number" in text
    assert "REDTRUST['PUBLIC_URL']: must be an http(s) URL" in text
    # Django reads the REDTRUST dict, never the environment: no variable to set instead.
    assert "REDTRUST_" not in text
    assert "HINT: for example 'TIMEOUT': 10" in text


def test_the_app_refuses_to_start_naming_every_mistake() -> None:
    wrong = {**BASE, "PARTNER": "ca-test", "TIMEOUT": "soon", "PUBLIC_URL": "ftp://app.test"}
    with override_settings(REDTRUST=wrong), pytest.raises(ConfigurationError) as caught:
        read_settings()
    text = str(caught.value)
    for key in ("PARTNER", "TIMEOUT", "PUBLIC_URL"):
        assert f"REDTRUST['{key}']: " in text, text
    assert len(caught.value.also) == 2


def test_every_missing_and_unknown_key_is_named() -> None:
    wrong = {"SERVER_URL": "https://redtrust.test", "TIMEOUTS": 5, "PARTNR": "CA_TEST"}
    with override_settings(REDTRUST=wrong):
        text = check_output()
    for key in ("TIMEOUTS", "PARTNR", "PARTNER", "SHARED_SECRET", "PUBLIC_URL"):
        assert f"REDTRUST['{key}']" in text, text
    assert text.count("redtrust.E002") == 5


def test_an_invalid_public_url_shows_beside_a_missing_urlconf() -> None:
    with override_settings(
        REDTRUST={**BASE, "PUBLIC_URL": "app.test"},
        ROOT_URLCONF="tests.djangosite.urls_without_redtrust",
    ):
        text = check_output()
    assert "redtrust.E003" in text
    assert "REDTRUST['PUBLIC_URL']" in text


# --- a fresh project, as docs/django.md sets it up -------------------------------------------

SETTINGS_TAIL = """
import os

INSTALLED_APPS += ["redtrust_django"]
MIDDLEWARE += ["redtrust_django.middleware.RedtrustMiddleware"]  # after SessionMiddleware
REDTRUST = {
    "SERVER_URL": os.environ.get("REDTRUST_SERVER_URL", "https://redtrust.example:8083"),
    "PARTNER": "CA_DEMO",
    "SHARED_SECRET": os.environ["REDTRUST_SHARED_SECRET"],
    "PUBLIC_URL": "http://127.0.0.1:8000",
}
"""
URLS_TAIL = """
from django.urls import include

urlpatterns += [path("redtrust/", include("redtrust_django.urls"))]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``django-admin startproject mysite`` with the app added (a temp dir, no checkout)."""
    folder = tmp_path_factory.mktemp("fresh")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(folder)],
        check=True,
        timeout=60,
        cwd=folder,
    )
    with (folder / "mysite" / "settings.py").open("a") as settings:
        settings.write(SETTINGS_TAIL)
    with (folder / "mysite" / "urls.py").open("a") as urls:
        urls.write(URLS_TAIL)
    return folder


def manage(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDTRUST_", "DJANGO_"))}
    clean.update({"REDTRUST_SHARED_SECRET": SECRET, **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_fresh_project_gets_no_warning(project: Path) -> None:
    done = manage(project, "check")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "redtrust" not in done.stdout + done.stderr


def test_the_lock_cache_warning_is_a_deployment_check(project: Path) -> None:
    done = manage(project, "check", "--deploy")
    assert "redtrust.W003" in done.stdout + done.stderr


def test_manage_py_redtrust_doctor(project: Path, sandbox_url: str) -> None:
    done = manage(project, "redtrust_doctor", REDTRUST_SERVER_URL=sandbox_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   settings: REDTRUST is valid" in done.stdout
    assert "ok   signature: partner CA_DEMO's signature accepted" in done.stdout
    assert "RedirectUrl is http://127.0.0.1:8000/redtrust/callback" in done.stdout
    wrong = manage(
        project,
        "redtrust_doctor",
        REDTRUST_SERVER_URL=sandbox_url,
        REDTRUST_SHARED_SECRET="wrong-secret-0123456789",
    )
    assert wrong.returncode == 1
    assert "fail signature: the server refused the signature (INVALID_SIGNATURE)" in wrong.stdout
    assert "fix: set REDTRUST['SHARED_SECRET']" in wrong.stdout
    https = manage(
        project, "redtrust_doctor", REDTRUST_SERVER_URL=sandbox_url.replace("http:", "https:")
    )
    assert https.returncode == 1
    assert "answered plain HTTP to a TLS handshake" in https.stdout
    assert "use http:// in REDTRUST['SERVER_URL']" in https.stdout


def test_reading_the_setting_still_logs_the_config_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from redtrust_django.conf import read_settings

    with override_settings(REDTRUST={**BASE, "VERIFY_TLS": False}):
        read_settings()
    assert "TLS verification is OFF" in caplog.text
