"""Settings of the example site, from the environment.

``REDTRUST_SERVER_URL``, ``REDTRUST_PARTNER``, ``REDTRUST_SHARED_SECRET``, ``REDTRUST_DOMAIN``,
``REDTRUST_PROFILE`` and ``REDTRUST_PUBLIC_URL`` (defaults: the local sandbox and
http://127.0.0.1:8000), ``REDTRUST_TIMEOUT``, ``REDTRUST_REFRESH_TIMEOUT`` and
``REDTRUST_REFRESH_LEEWAY`` (seconds); ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``;
``DATABASE_URL`` (``postgresql://user:password@host:port/name``) or else ``DJANGO_DB`` (a
sqlite file), where the sessions live; and ``REDTRUST_REDIS_URL`` (a shared cache for refresh
locks, for several workers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
env = os.environ.get

# A development key: set DJANGO_SECRET_KEY anywhere else. Redtrust's encryption keys derive
# from it (and SECRET_KEY_FALLBACKS), so rotating it keeps sessions readable.
SECRET_KEY = env("DJANGO_SECRET_KEY", "example-only-not-secret-4b1e7f0c2d9a8e6b5c3f1a0d9e8b7c6a")
DEBUG = env("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "redtrust_django",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Each browser gets the language its Accept-Language asks for (the library's pages ship
    # in English and Spanish); LANGUAGE_CODE when it asks for none of Django's languages.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "redtrust_django.middleware.RedtrustMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Each Redtrust user is a Django user (created at their first sign-in): request.user,
# login_required, permissions and the admin work. ModelBackend keeps password logins
# (`manage.py createsuperuser`) possible next to Redtrust.
AUTHENTICATION_BACKENDS = [
    "redtrust_django.backends.RedtrustBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "redtrust:login"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "examples.django_site.urls"
WSGI_APPLICATION = "examples.django_site.wsgi.application"


def _database_from_url(url: str) -> dict[str, Any]:
    """Django's settings for a ``postgresql://user:password@host:port/name`` URL (query
    parameters become connection options, e.g. ``?sslmode=require``)."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if parts.scheme not in ("postgresql", "postgres") or not name:
        raise ImproperlyConfigured(
            "DATABASE_URL must look like postgresql://user:password@host:5432/name "
            "(or unset it and set DJANGO_DB to a sqlite file)"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


# Sessions live in the database (Django's default session engine), migrated by
# `manage.py migrate`.
DATABASES = {
    "default": _database_from_url(env("DATABASE_URL", ""))
    if env("DATABASE_URL")
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env("DJANGO_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
if env("REDTRUST_REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("REDTRUST_REDIS_URL"),
        }
    }
else:
    # runserver is one process, so a local-memory lock cache is enough here.
    SILENCED_SYSTEM_CHECKS = ["redtrust.W003"]
SESSION_COOKIE_SECURE = env("REDTRUST_PUBLIC_URL", "").startswith("https://")
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDTRUST: dict[str, str | float] = {
    "SERVER_URL": env("REDTRUST_SERVER_URL", "http://127.0.0.1:8083"),
    "PARTNER": env("REDTRUST_PARTNER", "CA_DEMO"),
    # The sandbox's public demo secret, for local use only.
    "SHARED_SECRET": env("REDTRUST_SHARED_SECRET", "sandbox-demo-secret-0123456789abcdef"),
    "PUBLIC_URL": env("REDTRUST_PUBLIC_URL", "http://127.0.0.1:8000"),
    "PROFILE": env("REDTRUST_PROFILE", "certificate-enroll"),
}
if env("REDTRUST_DOMAIN"):
    REDTRUST["DOMAIN"] = env("REDTRUST_DOMAIN", "")
for _name in ("TIMEOUT", "REFRESH_TIMEOUT", "REFRESH_LEEWAY"):  # seconds, as from_env reads
    if env(f"REDTRUST_{_name}"):
        REDTRUST[_name] = float(env(f"REDTRUST_{_name}", ""))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"redtrust_middleware": {"handlers": ["console"], "level": "INFO"}},
}
