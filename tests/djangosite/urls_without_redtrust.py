"""A URLconf that forgot ``include("redtrust_django.urls")`` (for redtrust.E003)."""

from __future__ import annotations

from django.urls import path
from examples.django_site import views

urlpatterns = [path("", views.home)]
