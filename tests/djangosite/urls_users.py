"""The example's URLconf plus a ``permission_required`` page, a DRF view and an async
sign-out view of the site's own."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import alogout
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from redtrust_django.drf import RedtrustAuthentication


@permission_required("auth.view_user")
def staff_report(request: HttpRequest) -> HttpResponse:
    return HttpResponse("report")


async def async_logout(request: HttpRequest) -> HttpResponse:
    """A site's own async sign-out view: Django's ``alogout``."""
    await alogout(request)
    # What the rest of a logout view sees: no Redtrust session any more.
    return HttpResponse("bye" if getattr(request, "redtrust", None) is None else "still signed in")


class DrfMe(APIView):  # type: ignore[misc]
    authentication_classes = (RedtrustAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Any:
        return Response({"user": request.user.get_username(), "subject": request.auth.subject})

    def post(self, request: Request) -> Any:
        return self.get(request)


urlpatterns = [
    path("report", staff_report),
    path("drf/me", DrfMe.as_view()),
    path("bye", async_logout),
    path("", include("examples.django_site.urls")),
]
