"""The Certificates page of the example Django site, over the sandbox (WSGI and ASGI)."""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.http import HttpResponse
from django.test import AsyncClient, Client
from examples.django_site import views

from redtrust_middleware.cli.pages import CertificateBook

from .conftest import PAGE, DjangoSite


@pytest.fixture(autouse=True)
def fresh_book(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty list (the example keeps one per process)."""
    monkeypatch.setattr(views, "BOOK", CertificateBook())


def sha1_thumbprint(certificate: x509.Certificate) -> str:
    """The thumbprint computed independently: SHA-1 of the DER, upper-case hex."""
    der = certificate.public_bytes(Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def post(dsite: DjangoSite, path: str, data: dict[str, str]) -> HttpResponse:
    send = dsite.client.post
    if dsite.mode == "asgi":
        send = async_to_sync(send)
    response: HttpResponse = send(path, data, headers=PAGE)
    return response


def field(text: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', text)
    assert found, text
    return found.group(1)


def grouped(value: int | str) -> str:
    """Hex as the page shows it, computed here independently: whole bytes for a serial, then
    groups of four digits."""
    if isinstance(value, int):
        value = value.to_bytes((value.bit_length() + 7) // 8, "big").hex().upper()
    return " ".join(re.findall(".{1,4}", value))


def form_of(dsite: DjangoSite) -> dict[str, str]:
    """The hidden fields of the request form (its nonce and the CSRF token)."""
    page = dsite.get("/certificates", PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    return {
        "nonce": field(text, "nonce"),
        "csrfmiddlewaretoken": field(text, "csrfmiddlewaretoken"),
    }


def listed(dsite: DjangoSite) -> tuple[str, list[str]]:
    text = dsite.get("/certificates", PAGE).content.decode()
    return text, re.findall(r'name="thumbprint" value="([0-9A-F]{40})"', text)


def test_request_list_and_renew(dsite: DjangoSite) -> None:
    dsite.sign_in("/certificates")
    text, thumbprints = listed(dsite)
    assert "Certificates</a>" in text
    assert thumbprints == []

    answer = post(dsite, "/certificates", {**form_of(dsite), "cn": "Alice <Demo>", "c": "es"})
    assert answer.status_code == 303
    held = dsite.sandbox.certificates_for("alice")
    assert len(held) == 1
    first = sha1_thumbprint(held[0].certificate)
    assert answer["location"] == f"/certificates?notice=issued&cert={first}"
    assert b"Certificate issued: serial" in dsite.get(answer["location"], PAGE).content
    subject = held[0].certificate.subject
    text, thumbprints = listed(dsite)
    assert thumbprints == [first]
    assert html.escape(subject.rfc4514_string()) in text
    assert "CN=Alice \\&lt;Demo\\&gt;" in text
    assert "CN=Alice &lt;Demo&gt;, C=ES" in text  # as issued, to read
    assert "<Demo>" not in text
    assert grouped(held[0].certificate.serial_number) in text
    assert grouped(first) in text

    token = form_of(dsite)["csrfmiddlewaretoken"]
    renewed = post(
        dsite, "/certificates/renew", {"thumbprint": first, "csrfmiddlewaretoken": token}
    )
    assert renewed.status_code == 303
    held = dsite.sandbox.certificates_for("alice")
    assert len(held) == 1
    second = sha1_thumbprint(held[0].certificate)
    assert renewed["location"] == f"/certificates?notice=renewed&cert={second}"
    assert b"Certificate renewed: serial" in dsite.get(renewed["location"], PAGE).content
    assert second != first
    assert held[0].renewed_from == first
    assert held[0].certificate.subject == subject
    assert listed(dsite)[1] == [second]

    calls = dict(dsite.sandbox.calls)  # the same renewal sent again does nothing more
    again = post(dsite, "/certificates/renew", {"thumbprint": first, "csrfmiddlewaretoken": token})
    assert again.status_code == 303
    assert dict(dsite.sandbox.calls) == calls


def test_a_double_submitted_request_issues_once(dsite: DjangoSite) -> None:
    dsite.sign_in("/certificates")
    form = {**form_of(dsite), "cn": "Alice"}
    assert post(dsite, "/certificates", form).status_code == 303
    assert post(dsite, "/certificates", form).status_code == 303
    assert len(dsite.sandbox.certificates_for("alice")) == 1
    assert len(listed(dsite)[1]) == 1


@pytest.mark.parametrize(
    ("fields", "marked"),
    [
        ({"cn": ""}, {"cn"}),
        ({"cn": "Alice", "c": "ESP"}, {"c"}),
        ({"cn": "Alice", "o": "x" * 65}, {"o"}),
        ({"cn": "A\x07"}, {"cn"}),
        ({"cn": "é" * 40, "o": "<b>Org</b>", "c": "E1"}, {"cn", "c"}),
    ],
)
def test_bad_input_is_the_form_again_and_nothing_is_sent(
    dsite: DjangoSite, fields: dict[str, str], marked: set[str]
) -> None:
    """A 400 with the form as it was typed (escaped), each problem beside its field, and
    the CSRF field still in every form."""
    dsite.sign_in("/certificates")
    form = form_of(dsite)
    calls = dict(dsite.sandbox.calls)
    answer = post(dsite, "/certificates", {**form, **fields})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "The certificate was not requested" in text
    for name in ("cn", "o", "c"):
        kept = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', text)
        assert kept
        assert html.unescape(kept.group(1)) == fields.get(name, "")
        assert (f'id="{name}-error"' in text) == (name in marked), name
    assert "<b>Org</b>" not in text
    assert field(text, "csrfmiddlewaretoken")
    unknown = post(dsite, "/certificates/renew", {"thumbprint": "<b>x</b>"})
    assert unknown.status_code == 400
    assert b"<b>" not in unknown.content
    assert post(dsite, "/certificates", {"cn": "Alice"}).status_code == 400  # no nonce
    assert dict(dsite.sandbox.calls) == calls
    assert dsite.sandbox.certificates_for("alice") == []


def test_a_certificate_downloads_as_pem_by_its_owner_only(dsite: DjangoSite) -> None:
    dsite.sign_in("/certificates")
    post(dsite, "/certificates", {**form_of(dsite), "cn": "Alice Example"})
    (held,) = dsite.sandbox.certificates_for("alice")
    text = listed(dsite)[0]
    link = f'<a href="/certificates/download?cert={sha1_thumbprint(held.certificate)}" download>'
    assert link in text
    path = f"/certificates/download?cert={held.thumbprint}"
    answer = dsite.get(path, PAGE)
    assert answer.status_code == 200
    assert answer["content-type"] == "application/x-pem-file"
    assert answer["content-disposition"] == 'attachment; filename="Alice-Example.pem"'
    assert x509.load_pem_x509_certificate(answer.content) == held.certificate
    bob = dsite.fresh_browser()
    bob.sign_in("/certificates", user="bob")
    assert bob.get(path, PAGE).status_code == 404
    assert dsite.fresh_browser().get(path, PAGE).status_code == 302  # to sign in


def test_signing_out_says_so(dsite: DjangoSite) -> None:
    dsite.sign_in("/me")
    text = dsite.get("/me", PAGE).content.decode()
    action = re.search(r'<form class="sign" method="post" action="([^"]+)">', text)
    assert action
    assert action.group(1) == "/redtrust/logout?next=%2F%3Fnotice%3Dsigned-out"
    token = re.search(r'name="redtrust_signout" value="([^"]+)"', text)
    assert token
    answer = dsite.post(action.group(1), PAGE, body=f"redtrust_signout={token.group(1)}".encode())
    assert answer.status_code == 303
    assert answer["location"] == "/?notice=signed-out"
    assert b"You are signed out." in dsite.get(answer["location"], PAGE).content


def test_signed_out_users_are_sent_to_sign_in(dsite: DjangoSite) -> None:
    page = dsite.get("/certificates", PAGE)
    assert page.status_code == 302
    assert page["location"] == "/redtrust/login?next=%2Fcertificates"
    assert post(dsite, "/certificates", {"cn": "Alice"}).status_code in (302, 401)
    assert dsite.sandbox.certificates_for("alice") == []


def test_forms_carry_the_csrf_token(dsite: DjangoSite) -> None:
    client: Any = AsyncClient(enforce_csrf_checks=True)
    if dsite.mode == "wsgi":
        client = Client(enforce_csrf_checks=True)
    strict = DjangoSite(sandbox=dsite.sandbox, clock=dsite.clock, mode=dsite.mode, client=client)
    strict.sign_in("/certificates")
    form = form_of(strict)
    refused = post(strict, "/certificates", {"nonce": form["nonce"], "cn": "Alice"})
    assert refused.status_code == 403
    assert post(strict, "/certificates", {**form, "cn": "Alice"}).status_code == 303
    assert len(strict.sandbox.certificates_for("alice")) == 1


def test_redtrust_failing_is_a_clear_error(dsite: DjangoSite) -> None:
    dsite.sign_in("/certificates")
    form = {**form_of(dsite), "cn": "Alice"}
    dsite.sandbox.fail_next(1, status=503)
    assert post(dsite, "/certificates", form).status_code in (502, 503)
    assert dsite.sandbox.certificates_for("alice") == []
    assert post(dsite, "/certificates", form).status_code == 303  # the form can be sent again
    assert len(dsite.sandbox.certificates_for("alice")) == 1
