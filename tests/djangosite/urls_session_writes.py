"""The example's URLconf plus two views for the session-write tests: one writes the app's
own data into the session late (it waits until the test lets it go), one answers 502 (whose
session Django does not save)."""

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


def broken(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the app failed", status=502)


urlpatterns = [
    path("write-late", write_late),
    path("broken", broken),
    path("", include("examples.django_site.urls")),
]
