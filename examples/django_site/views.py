"""The example's views: a public page, a protected page (sync), protected JSON (async), the
Django account page (``login_required``), the admin's Redtrust login, and the Certificates
page (request, list, renew and download certificates signed by the demo CA).

The pages themselves are :class:`~redtrust_middleware.cli.pages.ExamplePages` (the Starlette
examples' own); these views only wire them to Django, adding the CSRF field to every form.
"""

from __future__ import annotations

import html

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from redtrust_django.decorators import redtrust_required
from redtrust_middleware.cli.pages import CertificateBook, ExamplePages, hidden_input
from redtrust_middleware.sandbox import DemoCA
from redtrust_middleware.web import WebResponse

#: The partner's CA (development only) and each user's certificates, once per process.
CA = DemoCA()
BOOK = CertificateBook()


def _pages() -> ExamplePages:
    return ExamplePages(logout_path=reverse("redtrust:logout"), issue=CA.issue, book=BOOK)


def _hidden(request: HttpRequest) -> str:
    """The CSRF field every form on a page carries."""
    return hidden_input("csrfmiddlewaretoken", get_token(request))


def _query(request: HttpRequest) -> str:
    return str(request.META.get("QUERY_STRING", ""))


def _response(answer: WebResponse) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


def home(request: HttpRequest) -> HttpResponse:
    context = request.redtrust  # type: ignore[attr-defined]
    return _response(_pages().home(context, _query(request), _hidden(request)))


@login_required  # Django's own: LOGIN_URL = "redtrust:login" sends users to sign in
def account(request: HttpRequest) -> HttpResponse:
    """The Django user RedtrustBackend logged in."""
    name = html.escape(request.user.get_username())
    return HttpResponse(f"<!doctype html><title>Account</title><h1>Account</h1><p>{name}</p>")


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login: a Redtrust sign-in; a signed-in user who is not staff gets 403."""
    if request.user.is_authenticated:
        raise PermissionDenied
    return redirect_to_login(request.GET.get("next", "/admin/"), "redtrust:login")


@redtrust_required
def me(request: HttpRequest) -> HttpResponse:
    return _response(_pages().me(request.redtrust, _hidden(request)))  # type: ignore[attr-defined]


@redtrust_required
async def api_me(request: HttpRequest) -> HttpResponse:  # an async view works the same
    return _response(_pages().api_me(request.redtrust))  # type: ignore[attr-defined]


@require_http_methods(["GET", "HEAD", "POST"])
@redtrust_required
def certificates(request: HttpRequest) -> HttpResponse:
    """GET: the request form and the user's certificates; POST: request a new one."""
    context = request.redtrust  # type: ignore[attr-defined]
    pages, hidden = _pages(), _hidden(request)
    if request.method != "POST":
        return _response(pages.certificates(context, _query(request), hidden))
    return _response(pages.request_certificate_sync(context, request.POST.dict(), hidden))


@require_POST
@redtrust_required
def renew_certificate(request: HttpRequest) -> HttpResponse:
    """Renew one of the user's certificates (same subject); the new one replaces it."""
    context = request.redtrust  # type: ignore[attr-defined]
    form = request.POST.dict()
    return _response(_pages().renew_certificate_sync(context, form, _hidden(request)))


@require_GET
@redtrust_required
def download_certificate(request: HttpRequest) -> HttpResponse:
    """One of the user's certificates as a PEM file."""
    context = request.redtrust  # type: ignore[attr-defined]
    return _response(_pages().download(context, _query(request)))
