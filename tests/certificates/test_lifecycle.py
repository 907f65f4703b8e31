"""The certificate lifecycle through both clients against the sandbox.

Create, issue with the demo CA, finalize, renew; every refusal; nothing sent for invalid input;
a finalize is never sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from redtrust_middleware import (
    APIError,
    AsyncClient,
    CsrRequest,
    Enrollment,
    InvalidInputError,
    IssuedCertificate,
    OutcomeUnknownError,
)

from .conftest import DN, World, expected_pairs, sha1_thumbprint, subject_pairs

pytestmark = pytest.mark.anyio


def spki(key_holder: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return key_holder.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


async def test_enroll_issues_a_certificate_for_the_dn(world: World) -> None:
    tokens = await world.sign_in()
    result = await world.call("enroll", tokens, DN, issue=world.ca.issue)
    assert isinstance(result, Enrollment)
    request, issued = result.request, result.issued
    assert isinstance(request, CsrRequest)
    assert isinstance(issued, IssuedCertificate)
    # The CSR: Redtrust's key, signed, for the DN, and the same as its PEM.
    assert request.csr.is_signature_valid
    assert subject_pairs(request.csr.subject) == expected_pairs(DN)
    assert x509.load_pem_x509_csr(request.csr_pem.encode()) == request.csr
    # The certificate: the CSR's key, the DN, the thumbprint computed independently.
    certificate = issued.certificate
    assert spki(certificate) == spki(request.csr)
    assert subject_pairs(certificate.subject) == expected_pairs(DN)
    assert issued.thumbprint == sha1_thumbprint(certificate)
    assert issued.subject == "C=ES,O=Example Org,CN=Alice Example"  # RFC 4514: last RDN first
    assert issued.serial_number == certificate.serial_number
    assert result.renewed_thumbprint is None
    # Stored at the sandbox for alice only.
    (stored,) = world.sandbox.certificates_for("alice")
    assert (stored.id_certificate, stored.thumbprint) == (issued.id_certificate, issued.thumbprint)
    assert stored.certificate == certificate
    assert world.sandbox.certificates_for("bob") == []
    assert world.calls() == {"exchange": 1, "csr_create": 1, "csr_finalize": 1}


@pytest.mark.parametrize(
    ("key_type", "key_length", "hash_type", "check"),
    [
        ("RSA", 2048, "SHA256", lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048),
        ("rsa", 3072, "sha384", lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 3072),
        ("RSA", 4096, "SHA512", lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 4096),
        (
            "EC",
            256,
            "SHA256",
            lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1",
        ),
        (
            "EC",
            384,
            "SHA512",
            lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp384r1",
        ),
    ],
)
async def test_key_types_lengths_and_hashes(
    world: World, key_type: str, key_length: int, hash_type: str, check: Callable[[Any], bool]
) -> None:
    tokens = await world.sign_in()
    request = await world.call(
        "create_csr", tokens, DN, key_type=key_type, key_length=key_length, hash_type=hash_type
    )
    assert check(request.csr.public_key())
    assert request.csr.signature_hash_algorithm.name == hash_type.lower()
    issued = await world.call(
        "finalize_csr", tokens, request.request_code, world.ca.issue(request.csr)
    )
    (stored,) = world.sandbox.certificates_for("alice")
    assert (stored.key_type, stored.key_length) == (key_type.upper(), key_length)
    assert stored.thumbprint == issued.thumbprint


async def test_defaults_are_rsa_2048_sha384(world: World) -> None:
    request = await world.call("create_csr", await world.sign_in(), DN)
    key = request.csr.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    assert request.csr.signature_hash_algorithm.name == "sha384"


@pytest.mark.parametrize("form", ["object", "pem-str", "pem-bytes"])
async def test_finalize_takes_a_certificate_object_or_pem(world: World, form: str) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    certificate = world.ca.issue(request.csr)
    given: object = {
        "object": certificate,
        "pem-str": pem_of(certificate),
        "pem-bytes": pem_of(certificate).encode(),
    }[form]
    issued = await world.call("finalize_csr", tokens, request.request_code, given)
    assert issued.certificate == certificate
    assert issued.thumbprint == sha1_thumbprint(certificate)


async def test_options_reach_the_sandbox_and_a_renewal_keeps_them(world: World) -> None:
    tokens = await world.sign_in()
    first = await world.call(
        "enroll",
        tokens,
        DN,
        issue=world.ca.issue,
        provider="CAMERFIRMA",
        info={"department": "sales", "ticket": "T-1"},
        group_ids=[3, 1],
    )
    (stored,) = world.sandbox.certificates_for("alice")
    assert stored.provider == "CAMERFIRMA"
    assert dict(stored.info) == {"department": "sales", "ticket": "T-1"}
    assert stored.group_ids == (3, 1)
    renewed = await world.call(
        "renew", tokens, first.issued.thumbprint, DN, issue=world.ca.issue, key_type="EC"
    )
    (after,) = world.sandbox.certificates_for("alice")
    assert after.thumbprint == renewed.issued.thumbprint
    assert after.renewed_from == first.issued.thumbprint
    assert (after.provider, dict(after.info), after.group_ids) == (
        "CAMERFIRMA",
        {"department": "sales", "ticket": "T-1"},
        (3, 1),
    )


async def test_renew_replaces_the_renewed_certificate(world: World) -> None:
    tokens = await world.sign_in()
    first = await world.call("enroll", tokens, DN, issue=world.ca.issue)
    second = await world.call("enroll", tokens, [("cn", "Second")], issue=world.ca.issue)
    # Thumbprints are case-insensitive on the way in.
    renewal = await world.call(
        "renew",
        tokens,
        first.issued.thumbprint.lower(),
        [("cn", "Alice Renewed"), ("c", "ES")],
        issue=world.ca.issue,
    )
    assert renewal.renewed_thumbprint == first.issued.thumbprint
    assert renewal.request.thumbprint_to_renew == first.issued.thumbprint
    new = renewal.issued
    assert new.thumbprint == sha1_thumbprint(new.certificate)
    assert spki(new.certificate) != spki(first.issued.certificate)  # a fresh key
    assert subject_pairs(new.certificate.subject) == [
        ("2.5.4.3", "Alice Renewed"),
        ("2.5.4.6", "ES"),
    ]
    held = [c.thumbprint for c in world.sandbox.certificates_for("alice")]
    assert held == [second.issued.thumbprint, new.thumbprint]
    # The renewed certificate is gone: renewing it again is refused, and makes no key.
    before = world.sandbox.record_counts()["csr_requests"]
    with pytest.raises(APIError) as caught:
        await world.call("renew", tokens, first.issued.thumbprint, DN, issue=world.ca.issue)
    assert (caught.value.code, caught.value.status) == ("UNKNOWN_CERTIFICATE", 404)
    assert world.sandbox.record_counts()["csr_requests"] == before


async def test_the_bound_user_client_does_it_all_as_the_user(world: World) -> None:
    tokens = await world.sign_in("bob")
    user = world.bound(tokens)
    assert tokens.access_token not in repr(user)
    request = await world.on(user, "create_csr", DN, key_type="EC")
    issued = await world.on(user, "finalize_csr", request.request_code, world.ca.issue(request.csr))
    enrolled = await world.on(user, "enroll", [("cn", "Bob")], issue=world.ca.issue)
    renewed = await world.on(user, "renew", issued.thumbprint, DN, issue=world.ca.issue)
    held = [c.thumbprint for c in world.sandbox.certificates_for("bob")]
    assert held == [enrolled.issued.thumbprint, renewed.issued.thumbprint]
    assert world.sandbox.certificates_for("alice") == []


async def test_a_bearer_string_works_like_the_token_set(world: World) -> None:
    tokens = await world.sign_in()
    result = await world.call("enroll", tokens.access_token, DN, issue=world.ca.issue)
    assert result.issued.thumbprint == sha1_thumbprint(result.issued.certificate)


async def test_the_async_client_awaits_a_coroutine_issuer() -> None:
    from .conftest import make_world

    world = make_world("async")
    assert isinstance(world.client, AsyncClient)
    tokens = await world.sign_in()

    async def issue(csr: x509.CertificateSigningRequest) -> str:
        return pem_of(world.ca.issue(csr))

    result = await world.client.enroll(tokens, DN, issue=issue)
    assert result.issued.thumbprint == sha1_thumbprint(result.issued.certificate)
    await world.client.aclose()


# --- refusals by the sandbox, surfaced as APIError -----------------------------------------


async def test_unknown_request_code(world: World) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    certificate = world.ca.issue(request.csr)
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", tokens, "no-such-code", certificate)
    assert (caught.value.code, caught.value.status) == ("UNKNOWN_REQUEST_CODE", 404)
    assert caught.value.operation == "csr_finalize"


async def test_a_request_is_finalized_once(world: World) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    certificate = world.ca.issue(request.csr)
    await world.call("finalize_csr", tokens, request.request_code, certificate)
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", tokens, request.request_code, certificate)
    assert (caught.value.code, caught.value.status) == ("REQUEST_CODE_USED", 409)
    assert len(world.sandbox.certificates_for("alice")) == 1


async def test_another_users_request_is_refused(world: World) -> None:
    alice, bob = await world.sign_in("alice"), await world.sign_in("bob")
    request = await world.call("create_csr", alice, DN)
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", bob, request.request_code, world.ca.issue(request.csr))
    assert (caught.value.code, caught.value.status) == ("FOREIGN_REQUEST_CODE", 403)
    assert world.sandbox.certificates_for("bob") == []
    # Still pending for alice.
    await world.call("finalize_csr", alice, request.request_code, world.ca.issue(request.csr))


async def test_a_certificate_for_another_key_is_refused(world: World) -> None:
    tokens = await world.sign_in()
    one = await world.call("create_csr", tokens, DN)
    other = await world.call("create_csr", tokens, DN)
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", tokens, one.request_code, world.ca.issue(other.csr))
    assert (caught.value.code, caught.value.status) == ("KEY_MISMATCH", 400)
    assert world.sandbox.certificates_for("alice") == []


async def test_enroll_checks_the_issued_key_before_finalizing(world: World) -> None:
    tokens = await world.sign_in()
    stray = await world.call("create_csr", tokens, DN)
    with pytest.raises(InvalidInputError) as caught:
        await world.call("enroll", tokens, DN, issue=lambda csr: world.ca.issue(stray.csr))
    assert caught.value.field == "certificate"
    assert "csr_finalize" not in world.calls()


async def test_an_issuer_failure_propagates_and_nothing_is_finalized(world: World) -> None:
    tokens = await world.sign_in()

    def refuse(csr: x509.CertificateSigningRequest) -> x509.Certificate:
        raise RuntimeError("the partner CA said no")

    with pytest.raises(RuntimeError):
        await world.call("enroll", tokens, DN, issue=refuse)
    assert world.calls()["csr_create"] == 1
    assert "csr_finalize" not in world.calls()


async def test_renewing_another_users_certificate_is_refused(world: World) -> None:
    alice, bob = await world.sign_in("alice"), await world.sign_in("bob")
    mine = await world.call("enroll", alice, DN, issue=world.ca.issue)
    with pytest.raises(APIError) as caught:
        await world.call("renew", bob, mine.issued.thumbprint, DN, issue=world.ca.issue)
    assert (caught.value.code, caught.value.status) == ("UNKNOWN_CERTIFICATE", 404)
    assert len(world.sandbox.certificates_for("alice")) == 1


async def test_an_expired_bearer_is_refused(world: World) -> None:
    tokens = await world.sign_in()
    world.clock.advance(301)  # the sandbox's access tokens live 300 s
    with pytest.raises(APIError) as caught:
        await world.call("create_csr", tokens, DN)
    assert (caught.value.code, caught.value.status) == ("EXPIRED_BEARER", 401)
    assert caught.value.is_rejection


async def test_the_bearer_of_an_ended_session_is_refused(world: World) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    assert world.sandbox.revoke("alice") == 1
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", tokens, request.request_code, world.ca.issue(request.csr))
    assert (caught.value.code, caught.value.status) == ("INVALID_BEARER", 401)


# --- a lost answer is never re-sent ----------------------------------------------------------


async def test_a_lost_finalize_answer_is_outcome_unknown_and_not_retried(world: World) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    certificate = world.ca.issue(request.csr)
    world.sandbox.drop_next(endpoint="csr_finalize")
    with pytest.raises(OutcomeUnknownError) as caught:
        await world.call("finalize_csr", tokens, request.request_code, certificate)
    assert caught.value.request_code == request.request_code
    assert caught.value.operation == "csr_finalize"
    assert world.calls()["csr_finalize"] == 1
    # It did take effect; finalizing again by hand says so and stores nothing twice.
    assert [c.request_code for c in world.sandbox.certificates_for("alice")] == [
        request.request_code
    ]
    with pytest.raises(APIError) as again:
        await world.call("finalize_csr", tokens, request.request_code, certificate)
    assert again.value.code == "REQUEST_CODE_USED"
    assert len(world.sandbox.certificates_for("alice")) == 1


async def test_a_lost_create_answer_is_outcome_unknown_and_not_retried(world: World) -> None:
    tokens = await world.sign_in()
    world.sandbox.drop_next(endpoint="csr_create")
    with pytest.raises(OutcomeUnknownError) as caught:
        await world.call("enroll", tokens, DN, issue=world.ca.issue)
    assert caught.value.request_code is None
    assert caught.value.operation == "csr_create"
    assert world.calls()["csr_create"] == 1
    assert world.sandbox.record_counts()["csr_requests"] == 1  # one key, made once


async def test_a_failed_finalize_is_not_retried_and_can_be_sent_again(world: World) -> None:
    tokens = await world.sign_in()
    request = await world.call("create_csr", tokens, DN)
    certificate = world.ca.issue(request.csr)
    world.sandbox.fail_next(status=503, endpoint="csr_finalize")
    with pytest.raises(APIError) as caught:
        await world.call("finalize_csr", tokens, request.request_code, certificate)
    assert (caught.value.code, caught.value.status) == ("SANDBOX_FAULT", 503)
    assert world.calls()["csr_finalize"] == 1
    assert world.sandbox.certificates_for("alice") == []
    issued = await world.call("finalize_csr", tokens, request.request_code, certificate)
    assert issued.thumbprint == sha1_thumbprint(certificate)


# --- invalid input: refused before anything is sent -----------------------------------------


INVALID_CREATE: list[tuple[dict[str, Any], str]] = [
    ({"dn": []}, "dn"),
    ({"dn": {}}, "dn"),
    ({"dn": "cn=Alice"}, "dn"),
    ({"dn": None}, "dn"),
    ({"dn": [("xx", "Alice")]}, "dn[0]"),
    ({"dn": [("cn", "Alice"), ("c", "ESP")]}, "dn[1]"),
    ({"dn": [("c", "E1")]}, "dn[0]"),
    ({"dn": [("cn", "")]}, "dn[0]"),
    ({"dn": [("cn", "x" * 65)]}, "dn[0]"),
    ({"dn": [("cn", "é" * 33)]}, "dn[0]"),  # 66 bytes in UTF-8
    ({"dn": [("cn", "Ali\nce")]}, "dn[0]"),
    ({"dn": [("cn", "Ali\x00ce")]}, "dn[0]"),
    ({"dn": [("cn", "evil\u202ename")]}, "dn[0]"),
    ({"dn": [("serialnumber", "IDC@ES")]}, "dn[0]"),
    ({"dn": [("emailaddress", "alíce@example.es")]}, "dn[0]"),
    ({"dn": [("cn", 42)]}, "dn[0]"),
    ({"dn": [("cn",)]}, "dn[0]"),
    ({"dn": [["cn", "Alice"]]}, "dn[0]"),
    ({"dn": [("cn", "A")] * 33}, "dn"),
    ({"dn": [("2.5.4.065", "x")]}, "dn[0]"),  # a leading zero
    ({"dn": [("cn", "A"), ("3.5.4", "x")]}, "dn[1]"),  # no arc 3
    ({"dn": [("1.40.1", "x")]}, "dn[0]"),  # second arc 40 under 1
    ({"dn": [("2", "x")]}, "dn[0]"),
    ({"dn": [("2." + "1." * 70 + "1", "x")]}, "dn[0]"),
    ({"dn": [("pseudonym", "x")]}, "dn[0]"),  # a name not configured
    ({"dn": [("1.3.6.1.4.1.311.60.2.1.3", "ESP")]}, "dn[0]"),  # jurisdictionC: a country
    ({"dn": [("2.5.4.5", "IDC@ES")]}, "dn[0]"),  # serialNumber by OID: PrintableString
    ({"hash_type": "MD5"}, "hash_type"),
    ({"hash_type": "SHA1"}, "hash_type"),
    ({"hash_type": 384}, "hash_type"),
    ({"key_type": "DSA"}, "key_type"),
    ({"key_type": None}, "key_type"),
    ({"key_length": 1024}, "key_length"),
    ({"key_length": 2048.0}, "key_length"),
    ({"key_length": True}, "key_length"),
    ({"key_length": "2048"}, "key_length"),
    ({"key_length": 521}, "key_length"),  # alone: in none of the key types
    ({"key_type": "EC", "key_length": 2048}, "key_length"),
    ({"key_type": "RSA", "key_length": 256}, "key_length"),
    ({"provider": ""}, "provider"),
    ({"provider": "CA\r\nX"}, "provider"),
    ({"provider": 7}, "provider"),
    ({"info": [("a", "b")]}, "info"),
    ({"info": {"a": 1}}, "info"),
    ({"info": {"": "b"}}, "info"),
    ({"info": {f"k{i}": "v" for i in range(33)}}, "info"),
    ({"group_ids": [1, "2"]}, "group_ids"),
    ({"group_ids": [True]}, "group_ids"),
    ({"group_ids": [-1]}, "group_ids"),
    ({"group_ids": [2**31]}, "group_ids"),
    ({"group_ids": [1, 1]}, "group_ids"),
    ({"group_ids": 5}, "group_ids"),
    ({"request_code": ""}, "request_code"),
    ({"request_code": "has space"}, "request_code"),
    ({"request_code": 5}, "request_code"),
    ({"thumbprint_to_renew": ""}, "thumbprint_to_renew"),
    ({"thumbprint_to_renew": "AB CD"}, "thumbprint_to_renew"),
    ({"thumbprint_to_renew": "A" * 257}, "thumbprint_to_renew"),
    ({"thumbprint_to_renew": 5}, "thumbprint_to_renew"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field_name"), INVALID_CREATE)
async def test_invalid_create_inputs_send_nothing(
    world: World, change: dict[str, Any], field_name: str
) -> None:
    tokens = await world.sign_in()
    before = world.calls()
    arguments: dict[str, Any] = {"dn": DN, **change}
    dn = arguments.pop("dn")
    with pytest.raises(InvalidInputError) as caught:
        await world.call("create_csr", tokens, dn, **arguments)
    assert caught.value.field == field_name
    assert world.calls() == before
    if "thumbprint_to_renew" not in arguments:  # enroll has no such argument (renew has)
        with pytest.raises(InvalidInputError):
            await world.call("enroll", tokens, dn, issue=world.ca.issue, **arguments)
        assert world.calls() == before


@pytest.mark.parametrize(
    ("tokens", "request_code", "certificate", "field_name"),
    [
        ("", "code", None, "tokens"),
        ("bear er", "code", None, "tokens"),
        (None, "code", None, "tokens"),
        ("bearer", "", None, "request_code"),
        ("bearer", "has space", None, "request_code"),
        ("bearer", "x" * 257, None, "request_code"),
        ("bearer", 12, None, "request_code"),
        ("bearer", "code", "not a certificate", "certificate"),
        ("bearer", "code", b"-----BEGIN CERTIFICATE-----\ngarbage\n", "certificate"),
        ("bearer", "code", 42, "certificate"),
    ],
)
async def test_invalid_finalize_inputs_send_nothing(
    world: World, tokens: object, request_code: object, certificate: object, field_name: str
) -> None:
    if certificate is None:
        request = await world.call("create_csr", await world.sign_in(), DN)
        certificate = world.ca.issue(request.csr)
    before = world.calls()
    with pytest.raises(InvalidInputError) as caught:
        await world.call("finalize_csr", tokens, request_code, certificate)
    assert caught.value.field == field_name
    assert world.calls() == before


@pytest.mark.parametrize(
    ("thumbprint", "issue", "field_name"),
    [
        ("not hex", "ca", "thumbprint"),  # a space: not a form any answer carries
        ("A" * 257, "ca", "thumbprint"),
        ("", "ca", "thumbprint"),
        (None, "ca", "thumbprint"),
        ("A" * 40, None, "issue"),
        ("A" * 40, "not callable", "issue"),
    ],
)
async def test_invalid_renew_inputs_send_nothing(
    world: World, thumbprint: object, issue: object, field_name: str
) -> None:
    tokens = await world.sign_in()
    before = world.calls()
    issuer = world.ca.issue if issue == "ca" else issue
    with pytest.raises(InvalidInputError) as caught:
        await world.call("renew", tokens, thumbprint, DN, issue=issuer)
    assert caught.value.field == field_name
    assert world.calls() == before
