"""The example's views: a public page, a protected page (sync), protected JSON (async) and the
Certificates page (request, list and renew certificates signed by the demo CA)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from redtrust_django.decorators import redtrust_required
from redtrust_middleware import InvalidInputError
from redtrust_middleware.cli.pages import (
    CertificateBook,
    certificates_body,
    describe,
    dn_from_form,
    error_body,
    form_nonce,
    form_thumbprint,
    hidden_input,
    home_body,
    me_body,
    page,
    page_headers,
    renewal_dn,
    user_key,
)
from redtrust_middleware.sandbox import DemoCA

#: The partner's CA (development only) and each user's certificates, once per process.
CA = DemoCA()
BOOK = CertificateBook()


def _hidden(request: HttpRequest) -> str:
    """The CSRF field every form on a page carries."""
    return hidden_input("csrfmiddlewaretoken", get_token(request))


def _page(request: HttpRequest, title: str, body: str, status: int = 200) -> HttpResponse:
    context = getattr(request, "redtrust", None)
    return HttpResponse(
        page(
            title,
            body,
            logout_path=reverse("redtrust:logout"),
            context=context,
            hidden=_hidden(request),
        ),
        status=status,
        headers=page_headers(context),
    )


def home(request: HttpRequest) -> HttpResponse:
    context = request.redtrust  # type: ignore[attr-defined]
    text = home_body(context)
    return _page(request, "Redtrust example", text)


@redtrust_required
def me(request: HttpRequest) -> HttpResponse:
    return _page(request, "Me", me_body(request.redtrust))  # type: ignore[attr-defined]


@redtrust_required
async def api_me(request: HttpRequest) -> JsonResponse:  # an async view works the same
    context = request.redtrust  # type: ignore[attr-defined]
    return JsonResponse(describe(context), headers=page_headers(context))


def _bad(request: HttpRequest, error: InvalidInputError) -> HttpResponse:
    return _page(request, "Certificates", error_body(error, reverse("certificates")), 400)


def _back() -> HttpResponse:
    """Post/redirect/get: a reload of the result page does not submit again."""
    return HttpResponseRedirect(reverse("certificates"), status=303)


@require_http_methods(["GET", "HEAD", "POST"])
@redtrust_required
def certificates(request: HttpRequest) -> HttpResponse:
    """GET: the request form and the user's certificates; POST: request a new one."""
    context = request.redtrust  # type: ignore[attr-defined]
    user = user_key(context)
    if request.method != "POST":
        body = certificates_body(
            BOOK.certificates(user),
            action=reverse("certificates"),
            renew_action=reverse("certificates-renew"),
            hidden=_hidden(request),
        )
        return _page(request, "Certificates", body)
    form = request.POST.dict()
    try:
        dn = dn_from_form(form)
        with BOOK.once(user, "request:" + form_nonce(form)) as fresh:
            if fresh:  # a double submit of the same form is acted on once
                enrolled = context.client.enroll(dn, issue=CA.issue)
                BOOK.add(user, enrolled.issued)
    except InvalidInputError as error:
        return _bad(request, error)
    return _back()


@require_POST
@redtrust_required
def renew_certificate(request: HttpRequest) -> HttpResponse:
    """Renew one of the user's certificates (same subject); the new one replaces it."""
    context = request.redtrust  # type: ignore[attr-defined]
    user = user_key(context)
    try:
        thumbprint = form_thumbprint(request.POST.dict())
        with BOOK.once(user, "renew:" + thumbprint) as fresh:
            if fresh:
                old = BOOK.find(user, thumbprint)
                if old is None:
                    raise InvalidInputError("thumbprint", "not one of your certificates")
                renewed = context.client.renew(thumbprint, renewal_dn(old), issue=CA.issue)
                BOOK.add(user, renewed.issued, replaces=thumbprint)
    except InvalidInputError as error:
        return _bad(request, error)
    return _back()
