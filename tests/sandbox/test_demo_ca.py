"""The demo CA: a self-signed CA that turns a verified CSR into an end-entity certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from redtrust_middleware import InvalidInputError
from redtrust_middleware.sandbox import DemoCA, pem

from ._support import START, FakeClock

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Alice"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
    ]
)


def csr_for(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    return x509.CertificateSigningRequestBuilder().subject_name(SUBJECT).sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_the_ca_certificate_is_a_self_signed_ca() -> None:
    ca = DemoCA(clock=FakeClock())
    certificate = ca.certificate
    certificate.verify_directly_issued_by(certificate)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert certificate.not_valid_before_utc == at(START - 300)
    assert x509.load_pem_x509_certificate(ca.certificate_pem.encode()) == certificate
    assert "Demo CA" in repr(ca)


def test_issue_signs_the_csr_with_the_ca_key(rsa_key: rsa.RSAPrivateKey) -> None:
    clock = FakeClock()
    ca = DemoCA(clock=clock)
    clock.advance(1000)
    csr = csr_for(rsa_key)
    certificate = ca.issue(csr, days=30)
    certificate.verify_directly_issued_by(ca.certificate)
    assert certificate.subject == SUBJECT
    assert certificate.issuer == ca.certificate.subject
    assert certificate.public_key() == rsa_key.public_key()
    assert certificate.not_valid_before_utc == at(START + 1000 - 300)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=30)
    assert certificate.serial_number > 0
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is False
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment  # an RSA key may encipher
    assert not usage.key_cert_sign
    purposes = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in purposes
    assert ca.issue(csr).serial_number != certificate.serial_number


def test_issue_takes_pem_and_an_explicit_time() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = DemoCA(clock=FakeClock())
    text = csr_for(key).public_bytes(Encoding.PEM)
    from_bytes = ca.issue(text, now=START + 86_400)
    from_text = ca.issue(text.decode(), now=START + 86_400)
    assert from_bytes.not_valid_before_utc == at(START + 86_400 - 300)
    assert from_text.subject == from_bytes.subject == SUBJECT
    usage = from_text.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not usage.key_encipherment  # an EC key cannot encipher
    assert x509.load_pem_x509_certificate(pem(from_text).encode()) == from_text


def test_a_csr_with_a_bad_signature_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    der = bytearray(csr_for(rsa_key).public_bytes(Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    tampered = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(InvalidInputError) as caught:
        DemoCA(clock=FakeClock()).issue(tampered)
    assert caught.value.field == "csr"


@pytest.mark.parametrize(
    ("csr", "days", "field_name"),
    [
        ("not a csr", 1, "csr"),
        (b"-----BEGIN CERTIFICATE REQUEST-----\nxx\n", 1, "csr"),
        (42, 1, "csr"),
        (None, 0, "days"),
        (None, 3651, "days"),
        (None, True, "days"),
    ],
)
def test_bad_arguments_are_refused(
    rsa_key: rsa.RSAPrivateKey, csr: object, days: object, field_name: str
) -> None:
    ca = DemoCA(clock=FakeClock())
    with pytest.raises(InvalidInputError) as caught:
        ca.issue(csr_for(rsa_key) if csr is None else csr, days=days)  # type: ignore[arg-type]
    assert caught.value.field == field_name


def test_a_ca_name_must_fit() -> None:
    with pytest.raises(InvalidInputError):
        DemoCA("x" * 65)
