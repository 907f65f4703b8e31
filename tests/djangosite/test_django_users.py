"""Django users for Redtrust sign-ins (RedtrustBackend) on the example site, WSGI and ASGI."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import user_logged_out, user_login_failed
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.db.models import QuerySet
from django.test import AsyncClient, Client
from tests import logscan
from werkzeug.datastructures import WWWAuthenticate

from redtrust_django._web import HANDLE_KEY
from redtrust_django.backends import RedtrustBackend
from redtrust_django.checks import check_users
from redtrust_django.signals import redtrust_logged_in, redtrust_logged_out

from .conftest import ORIGIN, PAGE, DjangoSite

BACKENDS = "tests.djangosite.test_django_users"


class StrictBackend(RedtrustBackend):
    create_unknown_user = False


class EveryoneBackend(RedtrustBackend):
    def filter_users(self, claims: Mapping[str, Any]) -> QuerySet[Any]:
        return User._default_manager.all()


class OpaqueBackend(RedtrustBackend):
    def get_claims(self, context: Any) -> Mapping[str, Any]:
        return {}  # as for an access token that is no JWT


class NamedBackend(RedtrustBackend):
    """The hooks a site overrides: a prefixed username, a field kept up to date."""

    def get_username(self, claims: Mapping[str, Any]) -> str | None:
        return f"rt-{claims['sub']}"

    def create_user(self, claims: Mapping[str, Any]) -> Any:
        user: Any = super().create_user(claims)
        user.first_name = "new"
        user.save()
        return user

    def update_user(self, user: Any, claims: Mapping[str, Any]) -> Any:
        user.last_name = str(claims["sub"])
        user.save()
        return user


def _session(dsite: DjangoSite) -> Any:
    from importlib import import_module

    from django.conf import settings

    engine = import_module(settings.SESSION_ENGINE).SessionStore
    return engine(session_key=dsite.session_id())


def _force_login(dsite: DjangoSite, user: Any) -> None:
    """A password sign-in (``ModelBackend``'s), as the admin's login form makes it."""
    backend = "django.contrib.auth.backends.ModelBackend"
    if dsite.mode == "asgi":
        async_to_sync(dsite.client.aforce_login)(user, backend)
    else:
        dsite.client.force_login(user, backend)


def test_account_redirects_to_the_redtrust_login_then_shows_the_username(
    dsite: DjangoSite,
) -> None:
    before = dsite.get("/account/", PAGE)
    assert before.status_code == 302
    assert before["location"] == "/redtrust/login?next=/account/"
    done = dsite.sign_in("/account/")
    assert done["location"] == "/account/"
    account = dsite.get("/account/")
    assert account.status_code == 200
    assert b"<p>alice</p>" in account.content
    user = User.objects.get(username="alice")
    assert not user.has_usable_password()  # a Redtrust user signs in with Redtrust only
    assert user.last_login is not None


def test_the_same_redtrust_user_is_the_same_django_user(dsite: DjangoSite) -> None:
    dsite.sign_in()
    dsite.post("/redtrust/logout", ORIGIN)
    dsite.sign_in(user="alice")
    dsite.fresh_browser().sign_in(user="bob")
    assert sorted(User.objects.values_list("username", flat=True)) == ["alice", "bob"]


def test_a_password_user_who_signs_in_with_redtrust_as_someone_else(dsite: DjangoSite) -> None:
    carol = User.objects.create_user("carol", password="carol-password")
    _force_login(dsite, carol)
    assert b"carol" in dsite.get("/account/").content
    dsite.sign_in("/account/", user="alice")
    assert b"<p>alice</p>" in dsite.get("/account/").content
    me = dsite.get("/me")  # Django flushed carol's session: the Redtrust sign-in survived it
    assert me.status_code == 200
    assert b"alice" in me.content
    assert _session(dsite)["_auth_user_id"] == str(User.objects.get(username="alice").pk)


def test_a_redtrust_sign_out_logs_the_django_user_out(dsite: DjangoSite) -> None:
    seen: list[Any] = []

    def on_logout(user: Any, **_: Any) -> None:
        seen.append(user)

    dsite.sign_in("/account/")
    user_logged_out.connect(on_logout)
    try:
        assert dsite.post("/redtrust/logout", ORIGIN).status_code == 303
    finally:
        user_logged_out.disconnect(on_logout)
    assert [user.get_username() for user in seen] == ["alice"]  # audit receivers see who
    assert dsite.get("/account/", PAGE).status_code == 302


@contextmanager
def _received(signal: Any) -> Iterator[list[dict[str, Any]]]:
    """The arguments of every ``signal`` sent meanwhile."""
    seen: list[dict[str, Any]] = []

    def receive(**arguments: Any) -> None:
        seen.append(arguments)

    signal.connect(receive)
    try:
        yield seen
    finally:
        signal.disconnect(receive)


@pytest.mark.parametrize(
    "logout_path",
    ["/admin/logout/", "/bye"],
    ids=["admin LogoutView (logout)", "own async view (alogout)"],
)
def test_djangos_own_logout_ends_the_redtrust_session_here_and_at_redtrust(
    dsite: DjangoSite, settings: Any, logout_path: str
) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    settings.REDTRUST = {**settings.REDTRUST, "PROFILE": "ra-api"}  # it has a remote logout
    User.objects.create_user("alice", is_staff=True)
    dsite.sign_in("/admin/")
    assert dsite.get("/admin/").status_code == 200
    assert [s.active for s in dsite.sandbox.sessions_for("alice")] == [True]
    with _received(user_logged_out) as django_out, _received(redtrust_logged_out) as ours:
        out = dsite.post(logout_path)
    assert out.status_code == 200
    if logout_path == "/bye":  # the site's own view: it reads request.redtrust afterwards
        assert out.content == b"bye"
    # Once each: the Redtrust sign-out does not log the Django user out a second time.
    assert [out["user"].get_username() for out in django_out] == ["alice"]
    assert [(out["reason"], type(out["event"]).__name__) for out in ours] == [
        ("logout", "LogoutEvent")
    ]
    assert dsite.sandbox.calls["logout"] == 1
    assert [s.active for s in dsite.sandbox.sessions_for("alice")] == [False]
    assert dsite.get("/me", PAGE)["location"] == "/redtrust/login?next=%2Fme"
    assert dsite.get("/admin/", PAGE)["location"] == "/admin/login/?next=/admin/"


def test_a_receiver_that_logs_out_again_does_not_stop_djangos_logout(
    dsite: DjangoSite, settings: Any
) -> None:
    from django.contrib.auth import logout

    def log_out_again(request: Any, reason: str, **_: Any) -> None:
        if reason == "logout":
            logout(request)  # nested in Django's logout: ends nothing twice

    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    dsite.sign_in("/account/")
    redtrust_logged_out.connect(log_out_again)
    try:
        with _received(user_logged_out) as django_out:
            assert dsite.post("/bye").content == b"bye"
    finally:
        redtrust_logged_out.disconnect(log_out_again)
    assert len(django_out) == 2  # the site's second logout is its own
    assert dsite.get("/account/", PAGE).status_code == 302
    assert dsite.get("/me", PAGE).status_code == 302


def test_a_failing_receiver_does_not_stop_djangos_logout(
    dsite: DjangoSite, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(**_: Any) -> None:
        raise RuntimeError("the audit database is down")

    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    dsite.sign_in("/account/")
    redtrust_logged_out.connect(failing)
    try:
        assert dsite.post("/bye").content == b"bye"
    finally:
        redtrust_logged_out.disconnect(failing)
    assert logscan.of(caplog.records, "redtrust.hook.failed") == [
        {"hook": "redtrust_logged_out", "error_type": "RuntimeError"}
    ]
    assert "the audit database is down" not in caplog.text
    assert dsite.get("/account/", PAGE).status_code == 302


def test_the_librarys_own_logout_of_a_password_user_keeps_the_new_redtrust_session(
    dsite: DjangoSite, settings: Any
) -> None:
    # A Redtrust sign-in that finds no Django user logs out the password user before it
    # (Django's logout: user_logged_out is sent); the Redtrust sign-in itself stands.
    settings.REDTRUST = {**settings.REDTRUST, "PROFILE": "ra-api"}
    # Passwords and Redtrust side by side: carol's password session is one Django honours.
    settings.AUTHENTICATION_BACKENDS = [
        f"{BACKENDS}.StrictBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    carol = User.objects.create_user("carol", password="carol-password")
    _force_login(dsite, carol)
    with _received(user_logged_out) as django_out, _received(redtrust_logged_out) as ours:
        dsite.sign_in("/me", user="bob")
    # carol logged out, and audit receivers are told it was she
    assert [out["user"] for out in django_out] == [carol]
    assert ours == []
    assert dsite.sandbox.calls["logout"] == 0
    assert [s.active for s in dsite.sandbox.sessions_for("bob")] == [True]
    assert dsite.get("/me").status_code == 200


def test_a_logout_after_the_redtrust_session_expired_ends_nothing_again(
    dsite: DjangoSite, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    settings.REDTRUST = {**settings.REDTRUST, "PROFILE": "ra-api"}
    dsite.sign_in("/account/")
    dsite.clock.advance(30 * 86_400)  # past every lifetime: the record is gone
    with _received(redtrust_logged_out) as ours:
        assert dsite.post("/bye").status_code == 200
    assert [out["reason"] for out in ours] == ["ended"]  # the middleware's, before the view
    assert dsite.sandbox.calls["logout"] == 0


def test_djangos_logout_goes_on_when_redtrust_cannot_end_the_session(
    dsite: DjangoSite, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    settings.REDTRUST = {**settings.REDTRUST, "PROFILE": "ra-api"}
    dsite.sign_in("/account/")
    dsite.sandbox.fail_next(1, 503, endpoint="logout")
    with caplog.at_level(logging.WARNING):
        assert dsite.post("/bye").status_code == 200
    assert len(logscan.of(caplog.records, "redtrust.logout.remote_failed")) == 1
    assert dsite.sandbox.calls["logout"] == 1
    assert dsite.get("/me", PAGE).status_code == 302  # ended here all the same
    assert dsite.get("/account/", PAGE).status_code == 302


@pytest.mark.parametrize(
    ("engine", "logged"),
    [
        ("django.contrib.sessions.backends.db", [{"error_type": "StoreError"}]),
        ("django.contrib.sessions.backends.cache", []),
    ],
    ids=["sessions in the database", "sessions in the cache"],
)
def test_djangos_logout_goes_on_with_the_cache_down(
    dsite: DjangoSite,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    engine: str,
    logged: list[dict[str, str]],
) -> None:
    """The cache goes down as a Redis would. With the sessions in the database the handle
    is read but the session cannot be ended (its claim is made in the cache): a warning.
    With the sessions in that cache the handle cannot be read at all. Either way Django's
    logout answers, and the Redtrust session ends at Redtrust when it expires."""
    from django.core.cache.backends.locmem import LocMemCache

    settings.SESSION_ENGINE = engine
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    settings.REDTRUST = {**settings.REDTRUST, "PROFILE": "ra-api"}
    dsite.sign_in("/account/")
    failed: list[str] = []

    def down(operation: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            failed.append(operation)
            raise ConnectionError("the cache is down")

        return fail

    for operation in ("add", "get", "set", "delete", "get_many", "set_many", "delete_many"):
        monkeypatch.setattr(LocMemCache, operation, down(operation))
    with caplog.at_level(logging.WARNING), _received(redtrust_logged_out) as ours:
        assert dsite.post("/bye").content == b"bye"
    assert failed  # the cache was asked, and failed
    assert logscan.of(caplog.records, "redtrust.django.logout_failed") == logged
    assert ours == []
    assert dsite.sandbox.calls["logout"] == 0
    monkeypatch.undo()
    assert dsite.get("/account/", PAGE).status_code == 302  # Django's logout happened


def test_a_password_users_logout_calls_no_redtrust(dsite: DjangoSite, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    _force_login(dsite, User.objects.create_user("carol", password="carol-password"))
    with _received(redtrust_logged_out) as ours:
        assert dsite.post("/bye").status_code == 200
    assert ours == []
    assert dsite.sandbox.calls["logout"] == 0


def test_a_session_ended_by_redtrust_logs_the_django_user_out(dsite: DjangoSite) -> None:
    dsite.sign_in("/account/")
    dsite.sandbox.revoke("alice")
    dsite.clock.advance(400)  # the token is due: the refresh is refused, the session ends
    assert dsite.get("/account/", PAGE)["location"] == "/redtrust/login?next=/account/"
    assert dsite.sandbox.calls["refresh"] == 1


def test_a_django_user_whose_redtrust_session_is_gone_is_logged_out(dsite: DjangoSite) -> None:
    dsite.sign_in("/account/")
    session = _session(dsite)
    del session[HANDLE_KEY]
    session.save()
    assert dsite.get("/account/", PAGE).status_code == 302


def test_redtrust_unavailable_keeps_the_django_user(dsite: DjangoSite) -> None:
    dsite.sign_in("/account/")
    dsite.clock.advance(400)
    dsite.sandbox.fail_next(1, 503, endpoint="refresh")
    assert dsite.get("/me", PAGE).status_code == 503  # refresh_failed: kept, not signed out
    dsite.clock.advance(6)
    assert b"<p>alice</p>" in dsite.get("/account/").content


def test_a_password_user_stays_when_no_redtrust_session_is_there(dsite: DjangoSite) -> None:
    _force_login(dsite, User.objects.create_user("carol", password="carol-password"))
    assert b"carol" in dsite.get("/account/").content
    assert b"carol" in dsite.get("/account/").content


@pytest.mark.parametrize(
    ("backend", "warning"),
    [
        ("StrictBackend", "none is named 'alice' and create_unknown_user is False"),
        ("EveryoneBackend", "several match Redtrust user 'alice'"),
        ("OpaqueBackend", "the access token names no subject ('sub' claim)"),
    ],
)
def test_a_sign_in_without_a_django_user_logs_nobody_in_and_says_why(
    dsite: DjangoSite, settings: Any, caplog: pytest.LogCaptureFixture, backend: str, warning: str
) -> None:
    settings.AUTHENTICATION_BACKENDS = [
        f"{BACKENDS}.{backend}",
        "django.contrib.auth.backends.ModelBackend",
    ]
    User.objects.create_user("someone")
    carol = User.objects.create_user("carol")
    _force_login(dsite, carol)
    failed: list[Any] = []
    with caplog.at_level(logging.DEBUG), _tokens_seen() as tokens:
        user_login_failed.connect(lambda **kw: failed.append(kw), weak=False, dispatch_uid="t")
        try:
            dsite.sign_in("/account/")
        finally:
            user_login_failed.disconnect(dispatch_uid="t")
    assert warning in caplog.text
    assert dsite.get("/account/", PAGE).status_code == 302  # not carol any more, nor alice
    assert dsite.get("/me").status_code == 200  # the Redtrust sign-in itself stands
    (session,) = dsite.sandbox.sessions_for("alice")
    for secret in (session.refresh_token, tokens[0].access_token):
        assert secret not in caplog.text
        assert secret not in repr(failed)  # django-axes and friends log these credentials


@contextmanager
def _tokens_seen() -> Iterator[list[Any]]:
    """The token sets of the sign-ins meanwhile (to look for them where they must not be)."""
    tokens: list[Any] = []

    def seen(**kwargs: Any) -> None:
        tokens.append(kwargs["context"].tokens)

    redtrust_logged_in.connect(seen, weak=False, dispatch_uid="tokens-seen")
    try:
        yield tokens
    finally:
        redtrust_logged_in.disconnect(dispatch_uid="tokens-seen")


def test_an_existing_inactive_user_is_not_logged_in(dsite: DjangoSite) -> None:
    User.objects.create_user("alice", is_active=False)
    dsite.sign_in("/account/")
    assert dsite.get("/account/", PAGE).status_code == 302


def test_the_hooks_name_create_and_update_users(dsite: DjangoSite, settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = [f"{BACKENDS}.NamedBackend"]
    dsite.sign_in("/account/")
    assert b"<p>rt-alice</p>" in dsite.get("/account/").content
    created = User.objects.get(username="rt-alice")
    assert (created.first_name, created.last_name) == ("new", "")
    dsite.fresh_browser().sign_in()
    assert User.objects.get(username="rt-alice").last_name == "alice"


def test_permissions_and_the_admin_work_for_redtrust_users(
    dsite: DjangoSite, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    alice = User.objects.create_user("alice", is_staff=True)
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    assert dsite.get("/admin/", PAGE)["location"] == "/admin/login/?next=/admin/"
    assert dsite.get("/admin/login/?next=/admin/")["location"] == ("/redtrust/login?next=/admin/")
    dsite.sign_in("/admin/")
    assert dsite.get("/admin/").status_code == 200
    assert dsite.get("/report").status_code == 200
    bob = dsite.fresh_browser()
    bob.sign_in("/report", user="bob")
    assert bob.get("/report").status_code == 302  # no permission: to the login
    assert bob.get("/admin/login/?next=/admin/").status_code == 403  # signed in, not staff


def test_login_required_middleware_sends_to_redtrust_and_lets_signed_in_users_pass(
    dsite: DjangoSite, settings: Any
) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    assert dsite.get("/me", PAGE)["location"] == "/redtrust/login?next=/me"
    dsite.sign_in("/me")
    assert dsite.get("/me").status_code == 200  # a @redtrust_required view
    assert dsite.get("/account/").status_code == 200


def test_drf_views_see_the_django_user_and_the_redtrust_context(
    dsite: DjangoSite, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    refused = dsite.get("/drf/me")
    assert refused.status_code == 401  # the challenge every face sends (RFC 9110 11.6.1)
    challenge = WWWAuthenticate.from_header(refused["www-authenticate"])
    assert challenge is not None
    assert challenge.type == "cookie"
    assert challenge.parameters["cookie-name"] == settings.SESSION_COOKIE_NAME
    assert challenge.parameters["login-url"] == "/redtrust/login?next=%2Fdrf%2Fme"
    dsite.sign_in()
    answer = dsite.get("/drf/me")
    assert answer.status_code == 200
    assert json.loads(answer.content) == {"user": "alice", "subject": "alice"}


def test_drf_unsafe_methods_need_django_csrf(dsite: DjangoSite, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    dsite.sign_in()
    strict = (
        AsyncClient(enforce_csrf_checks=True)
        if dsite.mode == "asgi"
        else Client(enforce_csrf_checks=True)
    )
    strict.cookies = dsite.client.cookies
    browser = DjangoSite(sandbox=dsite.sandbox, clock=dsite.clock, mode=dsite.mode, client=strict)
    posted = browser.post("/drf/me", body=b"{}", content_type="application/json")
    assert posted.status_code == 403
    assert b"CSRF Failed" in posted.content


def test_drf_says_503_when_redtrust_is_unavailable(dsite: DjangoSite, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.djangosite.urls_users"
    dsite.sign_in()
    dsite.clock.advance(400)
    dsite.sandbox.fail_next(1, 503, endpoint="refresh")
    answer = dsite.get("/drf/me")
    assert answer.status_code == 503
    assert json.loads(answer.content)["detail"].startswith("Redtrust could not be reached")


def test_the_checks_explain_login_url_and_authentication_middleware(settings: Any) -> None:
    assert check_users() == []  # the example site: backend on, LOGIN_URL = "redtrust:login"
    settings.LOGIN_URL = "/redtrust/login"
    assert check_users() == []
    settings.LOGIN_URL = "/accounts/login/"
    (warning,) = check_users()
    assert warning.id == "redtrust.W006"
    assert warning.level == checks.WARNING
    assert "LOGIN_URL = 'redtrust:login'" in str(warning.hint)
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("AuthenticationMiddleware")
    ]
    (error,) = check_users()
    assert error.id == "redtrust.E006"
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert check_users() == []  # the backend is off: nothing to say
