"""The example's paths: the same as the Starlette examples, the library's under /redtrust/,
plus Django's own: /account/ (``login_required``) and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home),
    path("account/", views.account, name="account"),
    path("me", views.me),
    path("api/me", views.api_me),
    path("certificates", views.certificates, name="certificates"),
    path("certificates/renew", views.renew_certificate, name="certificates-renew"),
    path("certificates/download", views.download_certificate, name="certificates-download"),
    path("redtrust/", include("redtrust_django.urls")),
    # The admin's own login page is a password form: its users sign in with Redtrust.
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
]
