"""``path("redtrust/", include("redtrust_django.urls"))``: login, callback and logout.

The callback's absolute URL (``PUBLIC_URL`` + its path) is the ``RedirectUrl`` Redtrust sends
users back to: register that URL (with a query allowed) with Redtrust.
"""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "redtrust"

urlpatterns = [
    path("login", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("logout", views.logout, name="logout"),
]
