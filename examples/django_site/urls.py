"""The example's paths: the same as the Starlette examples, the library's under /redtrust/."""

from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home),
    path("me", views.me),
    path("api/me", views.api_me),
    path("certificates", views.certificates, name="certificates"),
    path("certificates/renew", views.renew_certificate, name="certificates-renew"),
    path("certificates/download", views.download_certificate, name="certificates-download"),
    path("redtrust/", include("redtrust_django.urls")),
]
