"""Redtrust sign-in for Django sites: an installable app.

``INSTALLED_APPS += ["redtrust_django"]``, ``RedtrustMiddleware`` after ``SessionMiddleware``,
``path("redtrust/", include("redtrust_django.urls"))``, a ``REDTRUST`` setting, and
``@redtrust_required`` on views. See ``docs/django.md``.

Import the middleware, views and decorators from their modules (``redtrust_django.decorators``
...): this package imports nothing from Django itself, so settings are never read at import.
"""

from __future__ import annotations

from importlib.util import find_spec

# Checked without importing Django (settings are never read here): a site without it gets one
# line naming the extra, not a ModuleNotFoundError from deep inside the first module.
if find_spec("django") is None:
    raise ImportError(
        "redtrust_django needs Django, which is not installed: "
        'pip install "redtrust-middleware[django]"',
        name="django",
    )

__all__: list[str] = []
