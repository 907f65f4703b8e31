"""The Certificates page of the Starlette and FastAPI examples, over the sandbox."""

from __future__ import annotations

import hashlib
import html
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .conftest import Site

pytestmark = pytest.mark.anyio

FORM = {"content-type": "application/x-www-form-urlencoded"}


def sha1_thumbprint(certificate: x509.Certificate) -> str:
    """The thumbprint computed independently: SHA-1 of the DER, upper-case hex."""
    return (
        hashlib.sha1(certificate.public_bytes(Encoding.DER), usedforsecurity=False)
        .hexdigest()
        .upper()
    )


def nonce_of(text: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', text)
    assert found, text
    return found.group(1)


def thumbprints_in(text: str) -> list[str]:
    return re.findall(r'name="thumbprint" value="([0-9A-F]{40})"', text)


def grouped(value: int | str) -> str:
    """Hex as the page shows it, computed here independently: whole bytes for a serial (as
    ``openssl x509 -serial`` prints it), then groups of four digits."""
    if isinstance(value, int):
        value = value.to_bytes((value.bit_length() + 7) // 8, "big").hex().upper()
    return " ".join(re.findall(".{1,4}", value))


async def request_certificate(site: Site, **fields: str) -> str:
    """Send the request form; the page the answer sends the browser to (with its notice)."""
    page = await site.browser.get("/certificates")
    assert page.status_code == 200
    answer = await site.browser.post("/certificates", data={"nonce": nonce_of(page.text), **fields})
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location


async def test_request_list_and_renew(site: Site) -> None:
    await site.sign_in("/certificates")
    empty = await site.browser.get("/certificates")
    assert "Certificates</a>" in empty.text  # the nav link
    assert thumbprints_in(empty.text) == []

    location = await request_certificate(site, cn="Alice <Demo>", o="Example & Co", c="es")
    held = site.sandbox.certificates_for("alice")
    assert len(held) == 1
    expected = sha1_thumbprint(held[0].certificate)
    # Post/redirect/get, with a notice naming the new certificate (public, not secret).
    assert location == f"/certificates?notice=issued&cert={expected}"
    listed = await site.browser.get(location)
    assert "Certificate issued: serial" in listed.text
    assert thumbprints_in(listed.text) == [expected]
    subject = held[0].certificate.subject
    assert html.escape(subject.rfc4514_string()) in listed.text  # escaped
    assert "CN=Alice \\&lt;Demo\\&gt;" in listed.text
    assert "CN=Alice &lt;Demo&gt;, O=Example &amp; Co, C=ES" in listed.text  # as issued, to read
    assert "Example &amp; Co" in listed.text
    assert "C=ES" in listed.text
    assert "<Demo>" not in listed.text
    # Long hex values in groups (one line each), the notice's serial among them.
    assert listed.text.count(grouped(held[0].certificate.serial_number)) == 2
    assert grouped(expected) in listed.text

    renewed = await site.browser.post("/certificates/renew", data={"thumbprint": expected})
    assert renewed.status_code == 303
    held = site.sandbox.certificates_for("alice")
    assert len(held) == 1
    new = sha1_thumbprint(held[0].certificate)
    assert renewed.headers["location"] == f"/certificates?notice=renewed&cert={new}"
    assert (
        "Certificate renewed: serial" in (await site.browser.get(renewed.headers["location"])).text
    )
    assert new != expected
    assert held[0].renewed_from == expected
    assert held[0].certificate.subject == subject  # renewed with the same subject
    listed = await site.browser.get("/certificates")
    assert thumbprints_in(listed.text) == [new]

    # Submitting the same renewal again (a double click) does nothing more.
    calls = dict(site.sandbox.calls)
    again = await site.browser.post("/certificates/renew", data={"thumbprint": expected})
    assert again.status_code == 303
    assert again.headers["location"] == "/certificates"  # no notice: nothing was done
    assert dict(site.sandbox.calls) == calls


async def test_a_double_submitted_request_issues_once(site: Site) -> None:
    await site.sign_in("/certificates")
    page = await site.browser.get("/certificates")
    form = {"nonce": nonce_of(page.text), "cn": "Alice"}
    first = await site.browser.post("/certificates", data=form)
    second = await site.browser.post("/certificates", data=form)
    assert (first.status_code, second.status_code) == (303, 303)
    assert len(site.sandbox.certificates_for("alice")) == 1
    listed = await site.browser.get("/certificates")
    assert len(thumbprints_in(listed.text)) == 1


#: Bad request forms, and the fields each must mark as wrong.
BAD_FORMS = [
    ({"cn": "", "o": "Example", "c": "ES"}, {"cn"}),
    ({"cn": "   "}, {"cn"}),
    ({"cn": "Alice", "c": "ESP"}, {"c"}),
    ({"cn": "Alice", "o": "x" * 65}, {"o"}),
    ({"cn": "Alice\x07"}, {"cn"}),
    ({"cn": "é" * 40, "o": '<b>Org</b> & "Co"', "c": "E1"}, {"cn", "c"}),  # all at once
]


def input_value(text: str, name: str) -> str:
    """The value attribute of the form's input ``name``, as a browser reads it (unescaped)."""
    found = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', text)
    assert found, text
    return html.unescape(found.group(1))


@pytest.mark.parametrize(("fields", "marked"), BAD_FORMS)
async def test_bad_input_is_the_form_again_and_nothing_is_sent(
    site: Site, fields: dict[str, str], marked: set[str]
) -> None:
    """A 400 with the form as it was typed (escaped) and each problem beside its field."""
    await site.sign_in("/certificates")
    page = await site.browser.get("/certificates")
    calls = dict(site.sandbox.calls)
    answer = await site.browser.post("/certificates", data={"nonce": nonce_of(page.text), **fields})
    assert answer.status_code == 400
    assert "The certificate was not requested" in answer.text
    for name in ("cn", "o", "c"):
        assert input_value(answer.text, name) == fields.get(name, "")
        assert (f'id="{name}-error"' in answer.text) == (name in marked), name
    assert "<b>Org</b>" not in answer.text
    assert nonce_of(answer.text) != nonce_of(page.text)  # a fresh form to send again
    assert dict(site.sandbox.calls) == calls
    assert site.sandbox.certificates_for("alice") == []


async def test_an_expired_form_keeps_its_input(site: Site) -> None:
    await site.sign_in("/certificates")
    answer = await site.browser.post("/certificates", data={"cn": "Alice", "o": "Org"})
    assert answer.status_code == 400
    assert "The form had expired, so nothing was sent" in answer.text
    assert (input_value(answer.text, "cn"), input_value(answer.text, "o")) == ("Alice", "Org")
    again = await site.browser.post(
        "/certificates", data={"nonce": nonce_of(answer.text), "cn": "Alice"}
    )
    assert again.status_code == 303


async def test_bad_forms_are_refused(site: Site) -> None:
    await site.sign_in("/certificates")
    calls = dict(site.sandbox.calls)
    no_nonce = await site.browser.post("/certificates", data={"cn": "Alice"})
    assert no_nonce.status_code == 400
    too_big = await site.browser.post("/certificates", content=b"cn=" + b"a" * 10_000, headers=FORM)
    assert too_big.status_code == 400
    json = await site.browser.post("/certificates", json={"cn": "Alice"})
    assert json.status_code == 400
    unknown = await site.browser.post("/certificates/renew", data={"thumbprint": "A" * 40})
    assert unknown.status_code == 400
    malformed = await site.browser.post(
        "/certificates/renew", data={"thumbprint": "<script>alert(1)</script>"}
    )
    assert malformed.status_code == 400
    assert "<script>alert" not in malformed.text  # (the page's own script is the only one)
    assert dict(site.sandbox.calls) == calls


async def test_signed_out_users_are_sent_to_sign_in(site: Site) -> None:
    page = await site.browser.get("/certificates")
    assert page.status_code == 302
    assert page.headers["location"] == "/redtrust/login?next=%2Fcertificates"
    post = await site.browser.post("/certificates", data={"cn": "Alice"})
    assert post.status_code in (302, 401)
    assert site.sandbox.certificates_for("alice") == []


async def test_redtrust_failing_is_a_clear_error(site: Site) -> None:
    await site.sign_in("/certificates")
    page = await site.browser.get("/certificates")
    site.sandbox.fail_next(1, status=503)
    answer = await site.browser.post(
        "/certificates", data={"nonce": nonce_of(page.text), "cn": "A"}
    )
    assert answer.status_code in (502, 503)
    assert site.sandbox.certificates_for("alice") == []
    # The failed submission can be tried again.
    retry = await site.browser.post("/certificates", data={"nonce": nonce_of(page.text), "cn": "A"})
    assert retry.status_code == 303
    assert len(site.sandbox.certificates_for("alice")) == 1
