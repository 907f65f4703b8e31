"""The example site's settings, pointed at the in-process test sandbox."""

from __future__ import annotations

from examples.django_site.settings import *  # noqa: F403

from redtrust_middleware.testing import TEST_APP_URL, TEST_PARTNER, TEST_SECRET, TEST_SERVER_URL

SECRET_KEY = "tests-only-django-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = ["testserver", "app.test"]
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SILENCED_SYSTEM_CHECKS = ["redtrust.W003"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
REDTRUST = {
    "SERVER_URL": TEST_SERVER_URL,
    "PARTNER": TEST_PARTNER,
    "SHARED_SECRET": TEST_SECRET,
    "PUBLIC_URL": TEST_APP_URL,
}
