"""ASGI entry point: ``uvicorn examples.django_site.asgi:application`` from the checkout's root."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_site.settings")
application = get_asgi_application()
