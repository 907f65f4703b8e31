"""Redtrust sign-in for Django sites: an installable app.

``INSTALLED_APPS += ["redtrust_django"]``, ``RedtrustMiddleware`` after ``SessionMiddleware``,
``path("redtrust/", include("redtrust_django.urls"))``, a ``REDTRUST`` setting, and
``@redtrust_required`` on views. See ``docs/django.md``.

Import the middleware, views and decorators from their modules (``redtrust_django.decorators``
...): this package imports nothing from Django itself, so settings are never read at import.
"""

from __future__ import annotations

__all__: list[str] = []
