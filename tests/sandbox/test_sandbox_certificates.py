"""The sandbox's RA API (``csr/create``, ``csr/finalize``) spoken to directly over HTTP.

Bodies, signatures and thumbprints are built here with ``hmac``, ``hashlib`` and
``cryptography``, never with the library's client.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from redtrust_middleware.sandbox import DemoCA, Sandbox, SandboxConfig

from ._support import (
    JSON,
    OTHER_SECRET,
    PARTNER,
    SECRET,
    FakeClock,
    envelope_of,
    exchange,
    signed_headers,
    token_data,
)

CREATE = "/raapi/v1/csr/create"
FINALIZE = "/raapi/v1/csr/finalize"
DN = [{"attribute": "cn", "value": "Alice"}, {"attribute": "c", "value": "ES"}]
BODY: dict[str, Any] = {"dn": DN, "hashType": "SHA256", "keyType": "EC", "keyLength": 256}


def bearer_for(client: httpx2.Client, sandbox: Sandbox, username: str = "alice") -> str:
    token = sandbox.issue_temp_token(username, partner=PARTNER)
    return token_data(exchange(client, token))["accessToken"]


def headers(bearer: str | None, **signed: Any) -> dict[str, str]:
    result = signed_headers(**signed)
    if bearer is not None:
        result["Authorization"] = f"Bearer {bearer}"
    return result


def create(client: httpx2.Client, bearer: str | None, body: Any = None) -> httpx2.Response:
    return client.post(CREATE, json=BODY if body is None else body, headers=headers(bearer))


def finalize(
    client: httpx2.Client, bearer: str | None, code: str, certificate: str
) -> httpx2.Response:
    body = {"requestCode": code, "certificate": certificate}
    return client.put(FINALIZE, json=body, headers=headers(bearer))


def created(response: httpx2.Response) -> tuple[str, x509.CertificateSigningRequest]:
    data = envelope_of(response, 200, "OK")
    assert set(data) == {"csr", "requestCode"}
    assert isinstance(data["csr"], str)
    assert isinstance(data["requestCode"], str)
    return data["requestCode"], x509.load_pem_x509_csr(data["csr"].encode())


def pem_signed(csr: x509.CertificateSigningRequest, ca: DemoCA | None = None) -> str:
    certificate = (ca or DemoCA()).issue(csr)
    return certificate.public_bytes(Encoding.PEM).decode()


@pytest.fixture
def alice(client: httpx2.Client, sandbox: Sandbox) -> str:
    return bearer_for(client, sandbox)


def test_create_and_finalize(client: httpx2.Client, sandbox: Sandbox, alice: str) -> None:
    code, csr = created(create(client, alice))
    assert csr.is_signature_valid
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.COMMON_NAME, "Alice"),
        (NameOID.COUNTRY_NAME, "ES"),
    ]
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    text = pem_signed(csr)
    data = envelope_of(finalize(client, alice, code, text), 200, "OK")
    assert set(data) == {"idCertificate", "thumbprint"}
    der = x509.load_pem_x509_certificate(text.encode()).public_bytes(Encoding.DER)
    assert data["thumbprint"] == hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    (held,) = sandbox.certificates_for("alice")
    assert (held.id_certificate, held.thumbprint) == (data["idCertificate"], data["thumbprint"])
    assert held.request_code == code
    assert sandbox.calls["csr_create"] == sandbox.calls["csr_finalize"] == 1
    assert sandbox.record_counts()["csr_requests"] == 0
    assert sandbox.record_counts()["finalized_requests"] == 1


def test_request_code_and_unknown_fields_in_a_create_body_are_ignored(
    client: httpx2.Client, alice: str
) -> None:
    body = {**BODY, "requestCode": "mine", "colour": "red"}
    code, _ = created(create(client, alice, body))
    assert code != "mine"


def test_the_reference_sample_body_is_accepted(
    client: httpx2.Client, sandbox: Sandbox, alice: str
) -> None:
    # The RA API reference's csr/create sample fields, with the Camerfirma tutorial's values.
    body = {
        "dn": [{"attribute": "cn", "value": "HOLDER_NAME"}],
        "hashType": "SHA384",
        "keyLength": 2048,
        "keyType": "RSA",
        "provider": "CAMERFIRMA",
        "info": {"proident_9b": "string"},
        "groupIds": [0],
        "requestCode": "string",
    }
    code, csr = created(create(client, alice, body))
    assert code != "string"
    assert [(a.oid.dotted_string, a.value) for a in csr.subject] == [("2.5.4.3", "HOLDER_NAME")]
    envelope_of(finalize(client, alice, code, pem_signed(csr)), 200, "OK")
    (held,) = sandbox.certificates_for("alice")
    assert (held.provider, dict(held.info), held.group_ids) == (
        "CAMERFIRMA",
        {"proident_9b": "string"},
        (0,),
    )
    assert (held.key_type, held.key_length) == ("RSA", 2048)


def test_dn_attributes_given_as_dotted_oids_go_into_the_subject(
    client: httpx2.Client, alice: str
) -> None:
    dn = [
        {"attribute": "CN", "value": "Alice"},
        {"attribute": "2.5.4.65", "value": "Al"},  # pseudonym
        {"attribute": "1.3.6.1.4.1.311.60.2.1.3", "value": "es"},  # jurisdictionC
        {"attribute": "2.5.4.6", "value": "es"},  # c, by its OID
        {"attribute": "1.2.3.4.5", "value": "anything"},
    ]
    _, csr = created(create(client, alice, {**BODY, "dn": dn}))
    assert [(a.oid.dotted_string, a.value) for a in csr.subject] == [
        ("2.5.4.3", "Alice"),
        ("2.5.4.65", "Al"),
        ("1.3.6.1.4.1.311.60.2.1.3", "ES"),
        ("2.5.4.6", "ES"),
        ("1.2.3.4.5", "anything"),
    ]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"hashType": "SHA256"}, "'dn'"),
        ({**BODY, "dn": "cn=Alice"}, "'dn'"),
        ({**BODY, "dn": []}, "'dn'"),
        ({**BODY, "dn": [{"attribute": "cn"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "cn", "value": 1}]}, "'dn[0]'"),
        ({**BODY, "dn": [["cn", "Alice"]]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "xx", "value": "Alice"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "c", "value": "Spain"}]}, "'dn[0]'"),
        ({"dn": DN}, "'hashType'"),
        ({**BODY, "hashType": "MD5"}, "'hashType'"),
        ({**BODY, "keyType": "DSA"}, "'keyType'"),
        ({**BODY, "keyLength": "256"}, "'keyLength'"),
        ({**BODY, "keyLength": 521}, "'keyLength'"),
        ({**BODY, "keyType": "RSA", "keyLength": 1024}, "'keyLength'"),
        ({**BODY, "provider": ""}, "'provider'"),
        ({**BODY, "info": ["a"]}, "'info'"),
        ({**BODY, "groupIds": ["1"]}, "'groupIds'"),
        ({**BODY, "thumbprintToRenew": "xyz"}, "'thumbprintToRenew'"),
        ({**BODY, "requestCode": 5}, "'requestCode'"),
        # Dotted OIDs: decimal arcs without leading zeros, first 0-2, second < 40 under 0/1.
        ({**BODY, "dn": [{"attribute": "2.5.4.065", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "3.1", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "1.40", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "2", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "2.5..4", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "2." + "1." * 70 + "1", "value": "x"}]}, "'dn[0]'"),
        ({**BODY, "dn": [{"attribute": "pseudonym", "value": "x"}]}, "'dn[0]'"),
        # jurisdictionC is a country as c is; serialNumber's PrintableString by OID too.
        (
            {**BODY, "dn": [{"attribute": "1.3.6.1.4.1.311.60.2.1.3", "value": "ESP"}]},
            "'dn[0]'",
        ),
        ({**BODY, "dn": [{"attribute": "2.5.4.5", "value": "IDC@ES"}]}, "'dn[0]'"),
    ],
)
def test_malformed_create_bodies(
    client: httpx2.Client, sandbox: Sandbox, alice: str, body: dict[str, Any], named: str
) -> None:
    response = create(client, alice, body)
    envelope_of(response, 400, "INVALID_REQUEST")
    assert named in response.json()["message"]
    assert sandbox.record_counts()["csr_requests"] == 0
    assert sandbox.calls["csr_create"] == 1  # counted all the same


def test_a_create_body_must_be_a_json_object(client: httpx2.Client, alice: str) -> None:
    response = client.post(CREATE, content=b"[1]", headers={**headers(alice), **JSON})
    envelope_of(response, 400, "INVALID_REQUEST")
    response = client.post(CREATE, content=b"{", headers={**headers(alice), **JSON})
    envelope_of(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"certificate": "x"}, "INVALID_REQUEST"),
        ({"requestCode": "c"}, "INVALID_REQUEST"),
        ({"requestCode": "c", "certificate": 5}, "INVALID_REQUEST"),
        ({"requestCode": "c", "certificate": "x" * 20_000}, "INVALID_REQUEST"),
        ({"requestCode": "c", "certificate": "not pem"}, "INVALID_CERTIFICATE"),
        (
            {"requestCode": "c", "certificate": "-----BEGIN CERTIFICATE-----\nAA==\n"},
            "INVALID_CERTIFICATE",
        ),
    ],
)
def test_malformed_finalize_bodies(
    client: httpx2.Client, alice: str, body: dict[str, Any], code: str
) -> None:
    envelope_of(client.put(FINALIZE, json=body, headers=headers(alice)), 400, code)


def test_the_bearer_is_required_and_checked(
    client: httpx2.Client, sandbox: Sandbox, clock: FakeClock, alice: str
) -> None:
    envelope_of(create(client, None), 401, "MISSING_BEARER")
    envelope_of(finalize(client, None, "c", "x"), 401, "MISSING_BEARER")
    envelope_of(create(client, "not.a.jwt"), 401, "INVALID_BEARER")
    # The bearer alone is enough (test_sandbox_protocol.py); HMAC headers sent are checked.
    wrongly_signed = client.post(CREATE, json=BODY, headers=headers(alice, secret="wrong-secret"))
    envelope_of(wrongly_signed, 401, "INVALID_SIGNATURE")
    # A bearer issued to another partner, presented with this partner's signature.
    other_token = sandbox.issue_temp_token("alice", partner="OTHER")
    other = client.post(
        "/authapi/v1/login_by_temp_token",
        json={"temporalToken": other_token},
        headers=signed_headers(partner="OTHER", secret=OTHER_SECRET),
    )
    envelope_of(create(client, token_data(other)["accessToken"]), 401, "INVALID_BEARER")
    clock.advance(300)  # the access token's whole lifetime
    envelope_of(
        client.post(CREATE, json=BODY, headers=headers(alice, timestamp=int(clock.now))),
        401,
        "EXPIRED_BEARER",
    )
    assert sandbox.record_counts()["csr_requests"] == 0


def test_a_logged_out_session_cannot_request(
    client: httpx2.Client, sandbox: Sandbox, alice: str
) -> None:
    out = client.delete("/raapi/v1/auth/logout", headers=headers(alice))
    envelope_of(out, 200, "OK")
    envelope_of(create(client, alice), 401, "INVALID_BEARER")


def test_finalize_refusals(client: httpx2.Client, sandbox: Sandbox, alice: str) -> None:
    bob = bearer_for(client, sandbox, "bob")
    code, csr = created(create(client, alice))
    other_code, other_csr = created(create(client, alice))
    text = pem_signed(csr)
    envelope_of(finalize(client, alice, "unknown-code", text), 404, "UNKNOWN_REQUEST_CODE")
    envelope_of(finalize(client, bob, code, text), 403, "FOREIGN_REQUEST_CODE")
    envelope_of(finalize(client, alice, other_code, text), 400, "KEY_MISMATCH")
    envelope_of(finalize(client, alice, code, text), 200, "OK")
    envelope_of(finalize(client, alice, code, text), 409, "REQUEST_CODE_USED")
    envelope_of(finalize(client, bob, code, text), 403, "FOREIGN_REQUEST_CODE")
    envelope_of(finalize(client, alice, other_code, pem_signed(other_csr)), 200, "OK")
    assert len(sandbox.certificates_for("alice")) == 2
    assert sandbox.certificates_for("bob") == []


def test_another_partners_bearer_for_the_same_user_is_foreign(
    client: httpx2.Client, sandbox: Sandbox, alice: str
) -> None:
    code, csr = created(create(client, alice))
    token = sandbox.issue_temp_token("alice", partner="OTHER")
    other_headers = signed_headers(partner="OTHER", secret=OTHER_SECRET)
    answer = client.post(
        "/authapi/v1/login_by_temp_token", json={"temporalToken": token}, headers=other_headers
    )
    other_headers["Authorization"] = f"Bearer {token_data(answer)['accessToken']}"
    body = {"requestCode": code, "certificate": pem_signed(csr)}
    response = client.put(FINALIZE, json=body, headers=other_headers)
    envelope_of(response, 403, "FOREIGN_REQUEST_CODE")


def test_renewal(client: httpx2.Client, sandbox: Sandbox, alice: str) -> None:
    code, csr = created(create(client, alice))
    old = envelope_of(finalize(client, alice, code, pem_signed(csr)), 200, "OK")["thumbprint"]
    assert isinstance(old, str)
    unknown = {**BODY, "thumbprintToRenew": "AB" * 20}
    envelope_of(create(client, alice, unknown), 404, "UNKNOWN_CERTIFICATE")
    bob = bearer_for(client, sandbox, "bob")
    envelope_of(create(client, bob, {**BODY, "thumbprintToRenew": old}), 404, "UNKNOWN_CERTIFICATE")
    assert sandbox.record_counts()["csr_requests"] == 0  # no key made for a refused renewal
    # Two renewals of the same certificate: the first to finalize wins.
    first_code, first_csr = created(
        create(client, alice, {**BODY, "thumbprintToRenew": old.lower()})
    )
    second_code, second_csr = created(create(client, alice, {**BODY, "thumbprintToRenew": old}))
    new = envelope_of(finalize(client, alice, first_code, pem_signed(first_csr)), 200, "OK")
    assert [c.thumbprint for c in sandbox.certificates_for("alice")] == [new["thumbprint"]]
    assert sandbox.certificates_for("alice")[0].renewed_from == old
    late = finalize(client, alice, second_code, pem_signed(second_csr))
    envelope_of(late, 404, "UNKNOWN_CERTIFICATE")
    assert sandbox.record_counts()["csr_requests"] == 1  # the late one is still pending


def test_wrong_methods(client: httpx2.Client, alice: str) -> None:
    response = client.put(CREATE, json=BODY, headers=headers(alice))
    envelope_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    assert client.post(FINALIZE, json={}, headers=headers(alice)).headers["allow"] == "PUT"


# -- memory bounds ---------------------------------------------------------------------------


def small_sandbox(clock: FakeClock, **limits: Any) -> Sandbox:
    config = SandboxConfig(
        partners={PARTNER: SECRET},
        users={"alice": "a", "bob": "b"},
        redirect_prefixes=("https://app.example/",),
        access_token_ttl=10_000,
        **limits,
    )
    return Sandbox(config, clock=clock)


@pytest.fixture
def bounded(clock: FakeClock) -> tuple[Sandbox, httpx2.Client]:
    sandbox = small_sandbox(
        clock,
        max_csr_requests=3,
        max_csr_requests_per_user=2,
        max_certificates=3,
        max_certificates_per_user=2,
        csr_request_ttl=100,
        retention_seconds=50,
    )
    return sandbox, httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example")


def test_pending_requests_per_user_and_overall_are_capped(
    bounded: tuple[Sandbox, httpx2.Client],
) -> None:
    sandbox, client = bounded
    alice, bob = bearer_for(client, sandbox), bearer_for(client, sandbox, "bob")
    first, first_csr = created(create(client, alice))
    created(create(client, alice))
    created(create(client, alice))  # alice's oldest goes
    assert sandbox.record_counts()["csr_requests"] == 2
    envelope_of(finalize(client, alice, first, pem_signed(first_csr)), 404, "UNKNOWN_REQUEST_CODE")
    created(create(client, bob))
    created(create(client, bob))  # the overall cap: the oldest of all goes
    counts = sandbox.record_counts()
    assert (counts["csr_requests"], counts["csr_request_users"]) == (3, 2)


def test_pending_requests_expire_and_finalized_codes_are_forgotten(
    bounded: tuple[Sandbox, httpx2.Client], clock: FakeClock
) -> None:
    sandbox, client = bounded
    alice = bearer_for(client, sandbox)
    stale, stale_csr = created(create(client, alice))
    clock.advance(100)
    with_headers = {**headers(alice, timestamp=int(clock.now))}
    body = {"requestCode": stale, "certificate": pem_signed(stale_csr)}
    envelope_of(client.put(FINALIZE, json=body, headers=with_headers), 404, "UNKNOWN_REQUEST_CODE")
    code, csr = created(client.post(CREATE, json=BODY, headers=with_headers))
    body = {"requestCode": code, "certificate": pem_signed(csr)}
    envelope_of(client.put(FINALIZE, json=body, headers=with_headers), 200, "OK")
    envelope_of(client.put(FINALIZE, json=body, headers=with_headers), 409, "REQUEST_CODE_USED")
    clock.advance(50)  # retention_seconds after the finalize
    later = headers(alice, timestamp=int(clock.now))
    envelope_of(client.put(FINALIZE, json=body, headers=later), 404, "UNKNOWN_REQUEST_CODE")
    counts = sandbox.record_counts()
    assert (counts["csr_requests"], counts["finalized_requests"], counts["certificates"]) == (
        0,
        0,
        1,
    )


def test_certificates_per_user_and_overall_are_capped(
    bounded: tuple[Sandbox, httpx2.Client],
) -> None:
    sandbox, client = bounded
    ca = DemoCA()
    alice, bob = bearer_for(client, sandbox), bearer_for(client, sandbox, "bob")

    def issue(bearer: str) -> str:
        code, csr = created(create(client, bearer))
        data = envelope_of(finalize(client, bearer, code, pem_signed(csr, ca)), 200, "OK")
        assert isinstance(data["thumbprint"], str)
        return data["thumbprint"]

    a1, a2, a3 = issue(alice), issue(alice), issue(alice)
    assert [c.thumbprint for c in sandbox.certificates_for("alice")] == [a2, a3]
    b1, b2 = issue(bob), issue(bob)  # overall cap 3: alice's oldest goes
    assert [c.thumbprint for c in sandbox.certificates_for("alice")] == [a3]
    assert [c.thumbprint for c in sandbox.certificates_for("bob")] == [b1, b2]
    assert a1 not in {a2, a3}
    counts = sandbox.record_counts()
    assert (counts["certificates"], counts["certificate_users"]) == (3, 2)
