"""The Django app's settings, checks, signals, decorators and error handling."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django.views import View

from redtrust_django import signals
from redtrust_django.conf import get_runtime, read_settings
from redtrust_django.decorators import RedtrustRequiredMixin, redtrust_required
from redtrust_django.middleware import RedtrustMiddleware
from redtrust_middleware import ConfigurationError, UpstreamError

from .conftest import ORIGIN, PAGE, DjangoSite

BASE = {
    "SERVER_URL": "https://redtrust.test",
    "PARTNER": "CA_TEST",
    "SHARED_SECRET": "redtrust-testing-secret-0123456789",
    "PUBLIC_URL": "https://app.test",
}
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
OURS = "redtrust_django.middleware.RedtrustMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
#: Deployment checks: only ``manage.py check --deploy`` runs them.
DEPLOY_ONLY = {"redtrust.W003"}


def _ids(*, deploy: bool = False) -> set[str]:
    from django.conf import settings

    silenced = set(settings.SILENCED_SYSTEM_CHECKS)  # as manage.py check filters them
    found = checks.run_checks(include_deployment_checks=deploy)
    return {m.id for m in found if m.id and m.id not in silenced}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"REDTRUST": None}, "redtrust.E001"),
        ({"REDTRUST": "https://redtrust.test"}, "redtrust.E001"),
        ({"REDTRUST": {**BASE, "PARTNER": "not a partner!"}}, "redtrust.E002"),
        ({"REDTRUST": {k: v for k, v in BASE.items() if k != "PUBLIC_URL"}}, "redtrust.E002"),
        ({"REDTRUST": {**BASE, "TIMEOUT": -1}}, "redtrust.E002"),
        ({"REDTRUST": {**BASE, "NO_SUCH": 1}}, "redtrust.E002"),
        ({"ROOT_URLCONF": "tests.djangosite.urls_without_redtrust"}, "redtrust.E003"),
        # AuthenticationMiddleware stays: the example site has RedtrustBackend on (E006).
        ({"MIDDLEWARE": [OURS, AUTH]}, "redtrust.E004"),
        ({"MIDDLEWARE": [SESSION, AUTH]}, "redtrust.E005"),
        ({"MIDDLEWARE": [OURS, SESSION, AUTH]}, "redtrust.E005"),
        ({"MIDDLEWARE": [SESSION, OURS]}, "redtrust.E006"),
        ({"LOGIN_URL": "/accounts/login/"}, "redtrust.W006"),
        (
            {"DEBUG": False, "REDTRUST": {**BASE, "PUBLIC_URL": "http://app.test"}},
            "redtrust.W001",
        ),
        (
            {"SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies"},
            "redtrust.W002",
        ),
        ({"SILENCED_SYSTEM_CHECKS": []}, "redtrust.W003"),
        ({"SESSION_COOKIE_SAMESITE": "None"}, "redtrust.W004"),
        ({"SESSION_SAVE_EVERY_REQUEST": True}, "redtrust.W005"),
    ],
)
def test_each_system_check_by_id(overrides: dict[str, Any], expected: str) -> None:
    assert not {i for i in _ids() if i.startswith("redtrust.")}  # the test settings are clean
    deploy = expected in DEPLOY_ONLY  # shown by manage.py check --deploy
    with override_settings(**overrides):
        found = {i for i in _ids(deploy=deploy) if i.startswith("redtrust.")}
        if deploy:
            assert expected not in _ids()
    assert found == {expected}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://site:p%40ss@db.internal:5433/redtrust?sslmode=require",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "redtrust",
                "USER": "site",
                "PASSWORD": "p@ss",
                "HOST": "db.internal",
                "PORT": "5433",
                "OPTIONS": {"sslmode": "require"},
            },
        ),
        (
            "postgres://127.0.0.1/storm",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "storm",
                "USER": "",
                "PASSWORD": "",
                "HOST": "127.0.0.1",
                "PORT": "",
                "OPTIONS": {},
            },
        ),
    ],
)
def test_the_example_site_reads_database_url(url: str, expected: dict[str, Any]) -> None:
    from examples.django_site.settings import _database_from_url

    assert _database_from_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://db/site", "postgresql://db.internal", "/var/db.sqlite3"])
def test_a_database_url_the_example_cannot_use_is_named(url: str) -> None:
    from examples.django_site.settings import _database_from_url

    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL must look like postgresql://"):
        _database_from_url(url)


def test_no_http_warning_while_debugging() -> None:
    with override_settings(DEBUG=True, REDTRUST={**BASE, "PUBLIC_URL": "http://app.test"}):
        assert "redtrust.W001" not in _ids()


def test_settings_errors_name_the_key() -> None:
    with (
        override_settings(REDTRUST={**BASE, "TIMEOUT": "soon"}),
        pytest.raises(ConfigurationError) as caught,
    ):
        read_settings()
    assert caught.value.field == "REDTRUST['TIMEOUT']"
    with (
        override_settings(REDTRUST={**BASE, "CALLBACK_PATH": "/x"}),
        pytest.raises(ConfigurationError, match="CALLBACK_PATH"),
    ):
        read_settings()


def test_a_bad_setting_stops_the_app_where_the_server_loads_it() -> None:
    # gunicorn and uvicorn run no system check: the WSGI/ASGI handler builds the middleware
    # when the app is loaded, and that is where a missing PUBLIC_URL must stop it.
    without = {key: value for key, value in BASE.items() if key != "PUBLIC_URL"}
    with (
        override_settings(REDTRUST=without),
        pytest.raises(ConfigurationError, match=r"REDTRUST\['PUBLIC_URL'\]: is required"),
    ):
        RedtrustMiddleware(lambda request: HttpResponse())


def test_the_host_diagnosis_uses_the_sites_clock(dsite: DjangoSite) -> None:
    # A sign-in started at another host is remembered for pending_login_ttl on the clock the
    # site was given (use_transports), like every other time of the app.
    hosts = get_runtime().gate.hosts
    hosts.login_target({"host": "www.app.test"}, "https", "/redtrust/login", b"")
    same = {"host": "app.test"}
    assert "www.app.test" in hosts.refused_hints(same, "https", "NO_PENDING_LOGIN")[1]
    dsite.clock.advance(get_runtime().config.pending_login_ttl + 1)
    assert "www.app.test" not in hosts.refused_hints(same, "https", "NO_PENDING_LOGIN")[1]


def test_override_settings_is_honoured(dsite: DjangoSite) -> None:
    with override_settings(REDTRUST={**BASE, "DEFAULT_NEXT": "/api/me"}):
        assert get_runtime().config.default_next == "/api/me"
        done = dsite.sign_in("//evil.example")
        assert done["location"] == "/api/me"
    assert get_runtime().config.default_next == "/"
    assert get_runtime().config.callback_path == "/redtrust/callback"  # from the URLconf


def test_secret_key_rotation_keeps_sessions_and_removal_ends_them(dsite: DjangoSite) -> None:
    from django.conf import settings

    dsite.sign_in()
    old = settings.SECRET_KEY
    with override_settings(SECRET_KEY="a-new-secret-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[old]):
        assert dsite.get("/me").status_code == 200
    with override_settings(SECRET_KEY="another-secret-key-" + "y" * 40, SECRET_KEY_FALLBACKS=[]):
        # Django's own sessions are signed with SECRET_KEY too: the cache engine keeps the
        # data, and our sealed records no longer open, so the user signs in again.
        assert dsite.get("/me", PAGE).status_code == 302


def test_signals_tell_sign_in_refresh_failure_and_sign_out(dsite: DjangoSite) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []

    def listener(name: str) -> Any:
        def receive(**kwargs: Any) -> None:
            heard.append((name, kwargs))

        return receive

    receivers = {
        signals.redtrust_logged_in: listener("in"),
        signals.token_refreshed: listener("refreshed"),
        signals.refresh_failed: listener("failed"),
        signals.redtrust_logged_out: listener("out"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    try:
        dsite.sign_in()
        dsite.clock.advance(400)
        dsite.sandbox.fail_next(1, 503, endpoint="refresh")
        dsite.get("/api/me")
        dsite.clock.advance(6)
        dsite.get("/api/me")
        dsite.post("/redtrust/logout", ORIGIN)
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert [name for name, _ in heard] == ["in", "failed", "refreshed", "out"]
    assert heard[0][1]["context"].subject == "alice"
    assert isinstance(heard[1][1]["error"], UpstreamError | Exception)
    assert heard[3][1]["reason"] == "logout"
    assert all("request" in kwargs for _, kwargs in heard)


class SyncPage(RedtrustRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.redtrust.subject)  # type: ignore[attr-defined]


class AsyncPage(RedtrustRequiredMixin, View):
    async def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.redtrust.subject)  # type: ignore[attr-defined]


@redtrust_required
def failing(request: HttpRequest) -> HttpResponse:
    raise UpstreamError("Redtrust said no", status=500)


def _through_middleware(view: Any, request: HttpRequest) -> Any:
    middleware = RedtrustMiddleware(lambda r: HttpResponse())
    request.session = {}  # type: ignore[assignment]
    middleware(request)
    try:
        return view(request)
    except UpstreamError as error:
        return middleware.process_exception(request, error)


def test_the_mixin_protects_class_based_views(dsite: DjangoSite) -> None:
    request = RequestFactory().get("/cbv", headers=PAGE)
    answer = _through_middleware(SyncPage.as_view(), request)
    assert answer.status_code == 302
    assert answer["location"] == "/redtrust/login?next=%2Fcbv"
    from asgiref.sync import async_to_sync

    answer = async_to_sync(AsyncPage.as_view())(request)  # type: ignore[arg-type]
    assert answer.status_code == 302


def test_redtrust_errors_in_views_become_a_clear_page(dsite: DjangoSite) -> None:
    request = RequestFactory().get("/x", headers=PAGE)
    request.redtrust = object()  # type: ignore[attr-defined]
    middleware = RedtrustMiddleware(lambda r: HttpResponse())
    answer = middleware.process_exception(request, UpstreamError("down", status=500))
    assert answer is not None
    assert answer.status_code == 502
    assert b"Traceback" not in answer.content
    assert middleware.process_exception(request, ValueError("other")) is None


def test_the_views_are_exempt_from_login_required_middleware(dsite: DjangoSite) -> None:
    from django.conf import settings

    middleware = [*settings.MIDDLEWARE, "django.contrib.auth.middleware.AuthenticationMiddleware"]
    middleware.append("django.contrib.auth.middleware.LoginRequiredMiddleware")
    with override_settings(MIDDLEWARE=middleware, LOGIN_URL="/redtrust/login"):
        dsite.client.handler.load_middleware(is_async=dsite.mode == "asgi")
        assert dsite.get("/redtrust/login?next=/me").status_code == 302
        assert dsite.get("/redtrust/logout").status_code == 200
    dsite.client.handler.load_middleware(is_async=dsite.mode == "asgi")
