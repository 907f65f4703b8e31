"""The pure certificate-request values: DN parts, the validated spec, certificate inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from redtrust_middleware import DNAttribute, InvalidInputError, dn_from_name
from redtrust_middleware.certificates import (
    CsrSpec,
    certificate_of,
    check_issued_for,
    dn_to_name,
    normalize_dn,
)

_BITS = _ASN1Type.BitString


def test_a_dn_attribute_is_normalised_and_knows_its_oid() -> None:
    part = DNAttribute(attribute="C", value="es")
    assert (part.attribute, part.value) == ("c", "ES")
    assert part.oid.dotted_string == "2.5.4.6"
    assert DNAttribute(attribute="EmailAddress", value="a@b.es").oid.dotted_string == (
        "1.2.840.113549.1.9.1"
    )
    with pytest.raises(AttributeError):
        part.value = "FR"  # type: ignore[misc]


def test_longest_values_are_counted_in_utf8_bytes() -> None:
    assert DNAttribute(attribute="cn", value="x" * 64).value == "x" * 64
    assert DNAttribute(attribute="cn", value="é" * 32).value == "é" * 32
    with pytest.raises(InvalidInputError):
        DNAttribute(attribute="cn", value="é" * 32 + "x")


def test_normalize_dn_takes_pairs_objects_and_mappings() -> None:
    mixed = normalize_dn([("CN", "Alice"), DNAttribute(attribute="o", value="Org")])
    assert [(p.attribute, p.value) for p in mixed] == [("cn", "Alice"), ("o", "Org")]
    assert normalize_dn({"cn": "Alice", "o": "Org"}) == mixed


def test_dn_from_name_reads_a_subject_back() -> None:
    dn = normalize_dn([("cn", "Alice"), ("ou", "A"), ("ou", "B"), ("c", "ES")])
    assert dn_from_name(dn_to_name(dn)) == dn
    # An attribute outside the built-in names comes back as its dotted OID (to renew it).
    foreign = x509.Name([x509.NameAttribute(ObjectIdentifier("1.2.3.4"), "x")])
    assert [(p.attribute, p.value) for p in dn_from_name(foreign)] == [("1.2.3.4", "x")]
    binary = x509.Name([x509.NameAttribute(ObjectIdentifier("2.5.4.45"), b"\x01", _type=_BITS)])
    with pytest.raises(InvalidInputError):
        dn_from_name(binary)


def test_the_spec_body_sends_only_what_is_set() -> None:
    spec = CsrSpec.build([("cn", "A")], key_type="EC")
    assert spec.body() == {
        "dn": [{"attribute": "cn", "value": "A"}],
        "hashType": "SHA384",
        "keyType": "EC",
    }
    with pytest.raises(AttributeError):
        spec.hash_type = "SHA256"  # type: ignore[misc]


def test_certificate_inputs_and_the_key_check() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "A")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    start = datetime(2030, 1, 1, tzinfo=UTC)

    def certificate_for(public: ec.EllipticCurvePublicKey) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(1)
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )

    mine = certificate_for(key.public_key())
    check_issued_for(csr, mine)
    with pytest.raises(InvalidInputError) as caught:
        check_issued_for(csr, certificate_for(other.public_key()))
    assert caught.value.field == "certificate"
    assert certificate_of(mine) is mine
    huge = b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70_000
    with pytest.raises(InvalidInputError):
        certificate_of(huge)
