"""System checks (``manage.py check``): ``redtrust.E001``... errors, ``redtrust.W001``... warnings.

| id | problem |
|---|---|
| E001 | ``REDTRUST`` is missing or not a dict |
| E002 | a ``REDTRUST`` key is missing or invalid (one error per key, naming it) |
| E003 | ``redtrust_django.urls`` is not included in the URLconf |
| E004 | ``SessionMiddleware`` is not in ``MIDDLEWARE`` |
| E005 | ``RedtrustMiddleware`` is missing, or placed before ``SessionMiddleware`` |
| E006 | a ``RedtrustBackend`` is on but ``AuthenticationMiddleware`` is not in ``MIDDLEWARE`` |
| W001 | ``SERVER_URL`` or ``PUBLIC_URL`` uses plain http while ``DEBUG`` is off |
| W002 | a cookie-based session engine would send the (sealed) tokens to the browser |
| W003 | the lock cache is local to one process (``check --deploy`` only) |
| W004 | ``SESSION_COOKIE_SAMESITE`` is not Lax or Strict: sign-out relies on it against CSRF |
| W005 | ``SESSION_SAVE_EVERY_REQUEST`` writes the session on every request |
| W006 | a ``RedtrustBackend`` is on but ``LOGIN_URL`` is not the Redtrust login |
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from redtrust_middleware.config import ConfigProblem

from ._users import backend_enabled
from .conf import REQUIRED_KEYS, URLCONF, inspect_settings

__all__ = ["check_lock_cache", "check_middleware", "check_settings", "check_storage", "check_users"]

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
REDTRUST_MIDDLEWARE = "redtrust_django.middleware.RedtrustMiddleware"
AUTHENTICATION_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
LOGIN_URL = "redtrust:login"


def _message(problem: ConfigProblem) -> str:
    # The key alone: Django reads the REDTRUST dict, never the REDTRUST_* environment.
    return f"{problem.name}: {problem.problem}."


def check_settings(**_: Any) -> list[checks.CheckMessage]:
    """E001-E003 and W001: the ``REDTRUST`` setting and the URLconf, every problem at once."""
    if not isinstance(getattr(settings, "REDTRUST", None), dict):
        return [
            checks.Error(
                "The REDTRUST setting is missing or not a dict.",
                hint=f"REDTRUST = {{{', '.join(f'{key!r}: ...' for key in REQUIRED_KEYS)}}}",
                id="redtrust.E001",
            )
        ]
    reading = inspect_settings()
    found: list[checks.CheckMessage] = []
    for problem in reading.problems:
        if problem.name == URLCONF:
            found.append(checks.Error(f"{problem.problem}.", hint=problem.fix, id="redtrust.E003"))
            continue
        hint = problem.fix or (
            "Keys are the upper-case names of RedtrustConfig fields; every one is listed in "
            "the configuration table (docs/configuration.md)"
        )
        found.append(checks.Error(_message(problem), hint=f"{hint}.", id="redtrust.E002"))
    config = reading.config
    if config is None or settings.DEBUG:
        return found
    plain = [
        name
        for name, url in (("SERVER_URL", config.server_url), ("PUBLIC_URL", config.public_url))
        if url and url.startswith("http://")
    ]
    if plain:
        found.append(
            checks.Warning(
                f"REDTRUST {' and '.join(plain)} use plain http while DEBUG is off.",
                hint="Serve the site and reach Redtrust over https in production.",
                id="redtrust.W001",
            )
        )
    return found


def check_middleware(**_: Any) -> list[checks.CheckMessage]:
    """E004-E005: the middleware order."""
    middleware = list(settings.MIDDLEWARE)
    if SESSION_MIDDLEWARE not in middleware:
        return [
            checks.Error(
                "Redtrust keeps each browser's sign-in in its Django session.",
                hint=f"Add {SESSION_MIDDLEWARE!r} to MIDDLEWARE.",
                id="redtrust.E004",
            )
        ]
    if REDTRUST_MIDDLEWARE not in middleware or middleware.index(
        REDTRUST_MIDDLEWARE
    ) < middleware.index(SESSION_MIDDLEWARE):
        return [
            checks.Error(
                "RedtrustMiddleware must be in MIDDLEWARE, after SessionMiddleware.",
                hint=f"Add {REDTRUST_MIDDLEWARE!r} after {SESSION_MIDDLEWARE!r}.",
                id="redtrust.E005",
            )
        ]
    return []


def check_storage(**_: Any) -> list[checks.CheckMessage]:
    """W002, W004, W005: where tokens are kept, how the session cookie travels, and when
    the session is written."""
    found: list[checks.CheckMessage] = []
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        found.append(
            checks.Warning(
                "Cookie-based sessions would send the (encrypted) Redtrust tokens to the "
                "browser, and a copied cookie would outlive a sign-out.",
                hint="Use the database, cache or cached_db session engine.",
                id="redtrust.W002",
            )
        )
    if str(settings.SESSION_COOKIE_SAMESITE).lower() not in ("lax", "strict"):
        found.append(
            checks.Warning(
                "SESSION_COOKIE_SAMESITE is not 'Lax' or 'Strict': another site could post "
                "to the sign-out view with the session cookie (it checks Origin when sent).",
                hint="Keep Django's default, SESSION_COOKIE_SAMESITE = 'Lax'.",
                id="redtrust.W004",
            )
        )
    if settings.SESSION_SAVE_EVERY_REQUEST:
        found.append(
            checks.Warning(
                "SESSION_SAVE_EVERY_REQUEST writes the session on every request: concurrent "
                "requests of one browser contend for its row (sqlite answers 'database is "
                "locked'), and each re-reads it first to keep Redtrust's records current.",
                hint="Keep Django's default, SESSION_SAVE_EVERY_REQUEST = False: Redtrust "
                "writes the session only when it changed.",
                id="redtrust.W005",
            )
        )
    return found


def check_users(**_: Any) -> list[checks.CheckMessage]:
    """E006, W006: with a ``RedtrustBackend`` on, ``request.user`` and where Django's
    ``login_required`` sends users."""
    if not backend_enabled():
        return []
    if AUTHENTICATION_MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            checks.Error(
                "RedtrustBackend logs Redtrust users in as Django users, but without "
                "AuthenticationMiddleware request.user is never set.",
                hint=f"Add {AUTHENTICATION_MIDDLEWARE!r} to MIDDLEWARE, after SessionMiddleware.",
                id="redtrust.E006",
            )
        ]
    try:
        redtrust_login = reverse(LOGIN_URL)
    except NoReverseMatch:
        return []  # E003 says to include redtrust_django.urls
    try:
        login_url = resolve_url(settings.LOGIN_URL)
    except NoReverseMatch:
        login_url = str(settings.LOGIN_URL)
    if login_url == redtrust_login:
        return []
    return [
        checks.Warning(
            f"LOGIN_URL is {settings.LOGIN_URL!r}: Django's login_required, "
            "LoginRequiredMixin and LoginRequiredMiddleware send users there, not to the "
            "Redtrust sign-in.",
            hint=f"Set LOGIN_URL = {LOGIN_URL!r} (or silence redtrust.W006 if another "
            "login page is meant).",
            id="redtrust.W006",
        )
    ]


@checks.register(checks.Tags.security, checks.Tags.caches, deploy=True)
def check_lock_cache(**_: Any) -> list[checks.CheckMessage]:
    """W003, a deployment check (``manage.py check --deploy``): the refresh locks' cache.

    A local-memory cache is right for ``runserver`` and one process; only a deployment with
    several workers needs a shared one, so a fresh project is not warned on every start.
    """
    raw = getattr(settings, "REDTRUST", None)
    alias = raw.get("CACHE", "default") if isinstance(raw, dict) else "default"
    if alias in settings.CACHES and isinstance(caches[alias], LocMemCache | DummyCache):
        return [
            checks.Warning(
                f"The cache {alias!r} holding Redtrust's refresh locks is local to one "
                "process: with several workers, each may refresh the same session.",
                hint="Point REDTRUST['CACHE'] at a shared cache, e.g. "
                "django.core.cache.backends.redis.RedisCache (one process only: ignore this).",
                id="redtrust.W003",
            )
        ]
    return []
