"""The Django app's pages: Django templates (``redtrust/<page>.html``) a project overrides the
Django way, translated by Django's own machinery (LANGUAGE_CODE, LocaleMiddleware).

Expected Spanish comes from the app's ``django.po``; pages are read with ``html.parser``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.catalogues import DJANGO_PO, po_translations
from tests.core.test_pages import Seen

from .conftest import PAGE, DjangoSite

ES = po_translations(DJANGO_PO)
HOSTILE = '"><script>alert(1)</script>'
LOCALE = "django.middleware.locale.LocaleMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"


def _seen(response: Any, lang: str, title: str) -> Seen:
    seen = Seen(response.content.decode())
    assert seen.attribute("html", "lang") == lang
    assert seen.texts["h1"] == [title]
    assert response["content-language"] == lang
    return seen


def _without_locale_middleware(settings: Any) -> None:
    """A project that has only LANGUAGE_CODE (the example site has LocaleMiddleware too)."""
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != LOCALE]


def test_language_code_es_gives_spanish_pages(settings: Any, dsite: DjangoSite) -> None:
    _without_locale_middleware(settings)
    settings.LANGUAGE_CODE = "es"
    seen = _seen(dsite.get("/redtrust/logout", PAGE), "es", ES["Sign out?"])
    assert seen.texts["button"] == [ES["Sign out"]]
    refused = dsite.post("/redtrust/logout", PAGE)
    assert refused.status_code == 403
    _seen(refused, "es", ES["Sign-out refused"])
    wrong = dsite.post("/redtrust/login", PAGE)
    assert wrong.status_code == 405
    assert _seen(wrong, "es", ES["Method not allowed"]).texts["p"] == [ES["Use a link to sign in."]]
    callback = dsite.start()
    dsite.get(callback)
    replayed = dsite.get(callback, PAGE)  # a replayed callback: refused, sign in again
    assert replayed.status_code == 400
    seen = _seen(replayed, "es", ES["Sign-in could not be completed"])
    assert seen.texts["a"] == [ES["Sign in again"]]


def test_locale_middleware_follows_accept_language(settings: Any, dsite: DjangoSite) -> None:
    # The example site's MIDDLEWARE has it, right after SessionMiddleware as Django asks.
    middleware = list(settings.MIDDLEWARE)
    assert middleware.index(LOCALE) == middleware.index(SESSION) + 1
    spanish = dsite.get("/redtrust/logout", {**PAGE, "accept-language": "es-ES,es;q=0.9"})
    _seen(spanish, "es", ES["Sign out?"])
    assert "accept-language" in spanish["vary"].lower()
    english = dsite.get("/redtrust/logout", {**PAGE, "accept-language": "en"})
    _seen(english, "en", "Sign out?")


def test_with_language_code_en_the_pages_stay_english(dsite: DjangoSite) -> None:
    _seen(dsite.get("/redtrust/logout", PAGE), "en", "Sign out?")


def test_a_project_template_overrides_the_apps(
    settings: Any, dsite: DjangoSite, tmp_path: Path
) -> None:
    folder = tmp_path / "redtrust"
    folder.mkdir()
    (folder / "signout_confirmation.html").write_text(
        '{% extends "redtrust/base.html" %}{% load i18n %}{% block content %}'
        "<main id=acme><h1>{{ title }}</h1>"
        '<form method=post action="{{ logout_path }}">{{ signout_input }}'
        "<button>{{ button }}</button></form>"
        "<p>{% translate 'Sign out' %}</p></main>{% endblock %}"
    )
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(tmp_path)],
            "APP_DIRS": True,
        }
    ]
    settings.LANGUAGE_CODE = "es"
    dsite.sign_in()
    page = dsite.get("/redtrust/logout", PAGE)
    seen = _seen(page, "es", ES["Sign out?"])
    assert seen.attribute("main", "id") == "acme"
    assert seen.texts["p"] == [ES["Sign out"]]  # the project's own {% translate %}
    assert seen.attribute("input", "name") == "redtrust_signout"
    assert seen.attribute("form", "action") == "/redtrust/logout"


def test_a_hostile_value_stays_escaped_in_a_django_template(settings: Any) -> None:
    from redtrust_django.pages import DjangoPages
    from redtrust_middleware import _pages

    settings.LANGUAGE_CODE = "es"
    page = DjangoPages().render
    response = _pages.sign_in_not_completed(
        _store_error(),
        as_json=False,
        login_url=f"/redtrust/login?next={HOSTILE}",
        render=lambda content: page(content, {}),
    )
    seen = Seen(response.body.decode())
    assert "script" not in seen.tags()
    assert seen.attribute("a", "href") == f"/redtrust/login?next={HOSTILE}"
    assert seen.texts["h1"] == [ES["Sign-in not completed"]]


def test_a_hostile_value_stays_escaped_where_the_project_turns_autoescape_off(
    settings: Any,
) -> None:
    # Django's own option (TEMPLATES OPTIONS "autoescape": False, for text templates): the
    # library's values are escaped before they reach the template, as the core's pages are.
    from redtrust_django.pages import DjangoPages
    from redtrust_middleware import _pages

    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"autoescape": False},
        }
    ]
    page = DjangoPages().render
    response = _pages.sign_in_not_completed(
        _store_error(),
        as_json=False,
        login_url=f"/redtrust/login?next={HOSTILE}",
        render=lambda content: page(content, {}),
    )
    seen = Seen(response.body.decode())
    assert "script" not in seen.tags()
    assert seen.attribute("a", "href") == f"/redtrust/login?next={HOSTILE}"


def _store_error() -> Any:
    from redtrust_middleware.exceptions import StoreError

    return StoreError("down")
