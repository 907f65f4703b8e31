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


async def request_certificate(site: Site, **fields: str) -> None:
    page = await site.browser.get("/certificates")
    assert page.status_code == 200
    answer = await site.browser.post("/certificates", data={"nonce": nonce_of(page.text), **fields})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/certificates"


async def test_request_list_and_renew(site: Site) -> None:
    await site.sign_in("/certificates")
    empty = await site.browser.get("/certificates")
    assert "Certificates</a>" in empty.text  # the nav link
    assert thumbprints_in(empty.text) == []

    await request_certificate(site, cn="Alice <Demo>", o="Example & Co", c="es")
    held = site.sandbox.certificates_for("alice")
    assert len(held) == 1
    expected = sha1_thumbprint(held[0].certificate)
    listed = await site.browser.get("/certificates")
    assert thumbprints_in(listed.text) == [expected]
    subject = held[0].certificate.subject
    assert html.escape(subject.rfc4514_string()) in listed.text  # escaped
    assert "CN=Alice \\&lt;Demo\\&gt;" in listed.text
    assert "Example &amp; Co" in listed.text
    assert "C=ES" in listed.text
    assert "<Demo>" not in listed.text
    assert f"{held[0].certificate.serial_number:X}" in listed.text

    renewed = await site.browser.post("/certificates/renew", data={"thumbprint": expected})
    assert renewed.status_code == 303
    assert renewed.headers["location"] == "/certificates"
    held = site.sandbox.certificates_for("alice")
    assert len(held) == 1
    new = sha1_thumbprint(held[0].certificate)
    assert new != expected
    assert held[0].renewed_from == expected
    assert held[0].certificate.subject == subject  # renewed with the same subject
    listed = await site.browser.get("/certificates")
    assert thumbprints_in(listed.text) == [new]

    # Submitting the same renewal again (a double click) does nothing more.
    calls = dict(site.sandbox.calls)
    again = await site.browser.post("/certificates/renew", data={"thumbprint": expected})
    assert again.status_code == 303
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


@pytest.mark.parametrize(
    "fields",
    [
        {"cn": "", "o": "Example", "c": "ES"},
        {"cn": "   "},
        {"cn": "Alice", "c": "ESP"},
        {"cn": "Alice", "o": "x" * 65},
        {"cn": "Alice\x07"},
    ],
)
async def test_bad_input_is_a_400_and_nothing_is_sent(site: Site, fields: dict[str, str]) -> None:
    await site.sign_in("/certificates")
    page = await site.browser.get("/certificates")
    calls = dict(site.sandbox.calls)
    answer = await site.browser.post("/certificates", data={"nonce": nonce_of(page.text), **fields})
    assert answer.status_code == 400
    assert "That did not work" in answer.text
    assert dict(site.sandbox.calls) == calls
    assert site.sandbox.certificates_for("alice") == []


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
    assert "<script>" not in malformed.text
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
