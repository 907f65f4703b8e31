"""The example's URLconf plus a view that writes the app's own data into the session, late:
it reads the session, waits until the test lets it go, then saves it."""

from __future__ import annotations

import threading

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


class Holdup:
    """Two events: the view has read the session (``reached``); it may write (``go``)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()


HOLDUP = Holdup()


def write_late(request: HttpRequest) -> HttpResponse:
    HOLDUP.reached.set()
    if not HOLDUP.go.wait(10):
        return HttpResponse("not released", status=500)
    request.session["cart"] = "apples"
    return HttpResponse("written")


urlpatterns = [
    path("write-late", write_late),
    path("", include("examples.django_site.urls")),
]
