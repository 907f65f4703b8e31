"""The example's views: a public page, a protected page (sync) and protected JSON (async)."""

from __future__ import annotations

import html

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from examples._shared import describe, me_body, page
from redtrust_django.decorators import redtrust_required


def _page(request: HttpRequest, title: str, body: str) -> HttpResponse:
    signed_in = getattr(request, "redtrust", None) is not None
    return HttpResponse(
        page(title, body, logout_path=reverse("redtrust:logout"), signed_in=signed_in)
    )


def home(request: HttpRequest) -> HttpResponse:
    context = request.redtrust  # type: ignore[attr-defined]
    text = (
        f"<p>Hello {html.escape(context.subject or '?')}. <a href='/me'>Your session</a>.</p>"
        if context
        else "<p>This page is public. <a href='/me'>/me</a> needs a sign-in.</p>"
    )
    return _page(request, "Redtrust example", text)


@redtrust_required
def me(request: HttpRequest) -> HttpResponse:
    return _page(request, "Me", me_body(request.redtrust))  # type: ignore[attr-defined]


@redtrust_required
async def api_me(request: HttpRequest) -> JsonResponse:  # an async view works the same
    return JsonResponse(describe(request.redtrust))  # type: ignore[attr-defined]
