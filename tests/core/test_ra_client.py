"""The RA API calls of Client and AsyncClient against a hand-written fake Redtrust.

Request shapes, strict parsing of the answers, and the retry rules: ``csr/create`` and
``csr/finalize`` are never sent twice once they may have reached the server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from redtrust_middleware import (
    RA_API,
    APIError,
    AsyncClient,
    Client,
    CsrRequest,
    IssuedCertificate,
    OutcomeUnknownError,
    ProtocolError,
    RedtrustConfig,
    TransportError,
    UnusableAnswerError,
)

pytestmark = pytest.mark.anyio

SERVER = "https://redtrust.example"
BEARER = "the-users-access-token-AAAA"
THUMBPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"
KEY = ec.generate_private_key(ec.SECP256R1())
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Alice")])
CSR = x509.CertificateSigningRequestBuilder().subject_name(NAME).sign(KEY, hashes.SHA256())
CSR_PEM = CSR.public_bytes(Encoding.PEM).decode()
START = datetime(2030, 1, 1, tzinfo=UTC)
CERTIFICATE = (
    x509.CertificateBuilder()
    .subject_name(NAME)
    .issuer_name(NAME)
    .public_key(KEY.public_key())
    .serial_number(7)
    .not_valid_before(START)
    .not_valid_after(START + timedelta(days=1))
    .sign(KEY, hashes.SHA256())
)
CERTIFICATE_PEM = CERTIFICATE.public_bytes(Encoding.PEM).decode()

Handler = Callable[[httpx2.Request], httpx2.Response]


def answer(data: Any, *, status: int = 200, code: str = "OK") -> httpx2.Response:
    body = {
        "message": "m",
        "messageType": "SUCCESS" if code == "OK" else "ERROR",
        "errorCode": code,
        "data": data,
    }
    return httpx2.Response(status, json=body)


def created_ok(request: httpx2.Request) -> httpx2.Response:
    return answer({"csr": CSR_PEM, "requestCode": "RC-1"})


def finalized_ok(request: httpx2.Request) -> httpx2.Response:
    return answer({"idCertificate": "42", "thumbprint": THUMBPRINT})


@dataclass
class Fake:
    """One driver wired to a fake upstream that records what it received."""

    kind: str
    handler: Handler = created_ok
    requests: list[httpx2.Request] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def serve(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.handler(request)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        config = RedtrustConfig(
            server_url=SERVER,
            partner="CA_DEMO",
            shared_secret="the-shared-secret-0123456789abcdef",
            **self.settings,
        )
        transport = httpx2.MockTransport(self.serve)
        if self.kind == "sync":
            with Client(config, transport=transport) as client:
                return getattr(client, name)(*args, **kwargs)
        async with AsyncClient(config, transport=transport) as aclient:
            return await getattr(aclient, name)(*args, **kwargs)

    def body(self) -> Any:
        return json.loads(self.requests[-1].content)


@pytest.fixture(params=["sync", "async"])
def fake(request: pytest.FixtureRequest) -> Fake:
    return Fake(request.param)


# --- request shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "port"), [("certificate-enroll", 8083), ("ra-api", 8082)])
async def test_create_request_shape(fake: Fake, profile: str, port: int) -> None:
    fake.settings["profile"] = profile
    result = await fake.call(
        "create_csr",
        BEARER,
        [("CN", "Alice"), ("o", "Org"), ("c", "es")],
        hash_type="sha512",
        key_type="ec",
        key_length=384,
        provider="CAMERFIRMA",
        info={"k": "v"},
        group_ids=[4, 2],
        thumbprint_to_renew=THUMBPRINT.lower(),
    )
    request = fake.requests[-1]
    assert (request.method, str(request.url)) == ("POST", f"{SERVER}:{port}/raapi/v1/csr/create")
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert request.headers["x-partner-name"] == "CA_DEMO"
    assert len(request.headers["x-hmac-signature"]) == 64
    assert fake.body() == {
        "dn": [
            {"attribute": "cn", "value": "Alice"},
            {"attribute": "o", "value": "Org"},
            {"attribute": "c", "value": "ES"},
        ],
        "hashType": "SHA512",
        "keyType": "EC",
        "keyLength": 384,
        "provider": "CAMERFIRMA",
        "info": {"k": "v"},
        "groupIds": [4, 2],
        "thumbprintToRenew": THUMBPRINT,
    }
    assert isinstance(result, CsrRequest)
    assert (result.request_code, result.csr, result.csr_pem) == ("RC-1", CSR, CSR_PEM)
    assert result.thumbprint_to_renew == THUMBPRINT


async def test_create_sends_only_what_was_given_and_a_mapping_dn(fake: Fake) -> None:
    # hashType is required by the docs (SHA384, as they show); keyType and keyLength are not.
    await fake.call("create_csr", BEARER, {"cn": "Alice", "o": "Org"})
    assert fake.body() == {
        "dn": [{"attribute": "cn", "value": "Alice"}, {"attribute": "o", "value": "Org"}],
        "hashType": "SHA384",
    }


async def test_finalize_request_shape(fake: Fake) -> None:
    fake.settings["profile"] = RA_API
    fake.handler = finalized_ok
    issued = await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    request = fake.requests[-1]
    assert (request.method, request.url.path) == ("PUT", "/raapi/v1/csr/finalize")
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert fake.body() == {"requestCode": "RC-1", "certificate": CERTIFICATE_PEM}
    assert isinstance(issued, IssuedCertificate)
    assert (issued.id_certificate, issued.thumbprint) == ("42", THUMBPRINT)
    assert issued.certificate == CERTIFICATE
    assert issued.not_valid_before == START
    assert issued.not_valid_after == START + timedelta(days=1)


async def test_numeric_ids_are_accepted_as_text(fake: Fake) -> None:
    fake.handler = lambda request: answer({"csr": CSR_PEM, "requestCode": 17})
    assert (await fake.call("create_csr", BEARER, [("cn", "A")])).request_code == "17"
    fake.handler = lambda request: answer({"idCertificate": 9, "thumbprint": "ab" * 32})
    issued = await fake.call("finalize_csr", BEARER, "17", CERTIFICATE)
    assert (issued.id_certificate, issued.thumbprint) == ("9", "ab" * 32)


def tampered_csr() -> str:
    der = bytearray(CSR.public_bytes(Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM).decode()


# --- where the CSR may be, and in which encoding -----------------------------------------

CSR_DER_BASE64 = base64.b64encode(CSR.public_bytes(Encoding.DER)).decode()
#: The likely fields, as docs/certificates.md lists them.
LIKELY_FIELDS = ["csr", "csrPem", "csrBase64", "pkcs10", "certificateRequest", "request"]


@pytest.mark.parametrize("where", LIKELY_FIELDS)
@pytest.mark.parametrize(
    "encoded",
    [
        CSR_PEM,
        CSR_DER_BASE64,
        "\n".join(textwrap.wrap(CSR_DER_BASE64, 64)),  # base64 in lines
        CSR_PEM.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
    ],
    ids=["pem", "der", "der-lines", "new-pem"],
)
async def test_a_csr_as_pem_or_base64_der_in_any_likely_field(
    fake: Fake, where: str, encoded: str
) -> None:
    fake.handler = lambda request: answer({where: encoded, "requestCode": "RC-1"})
    result = await fake.call("create_csr", BEARER, [("cn", "A")])
    assert (result.request_code, result.csr) == ("RC-1", CSR)
    assert x509.load_pem_x509_csr(result.csr_pem.encode()) == CSR


async def test_configured_create_answer_fields(fake: Fake) -> None:
    fake.settings.update(csr_fields=("p10",), csr_request_code_field="code")
    fake.handler = lambda request: answer({"p10": CSR_DER_BASE64, "code": "RC-9"})
    result = await fake.call("create_csr", BEARER, [("cn", "A")])
    assert (result.request_code, result.csr) == ("RC-9", CSR)
    # The defaults are no longer looked at.
    fake.handler = created_ok
    with pytest.raises(UnusableAnswerError) as caught:
        await fake.call("create_csr", BEARER, [("cn", "A")])
    assert "csr_fields" in str(caught.value)


async def test_configured_finalize_answer_fields(fake: Fake) -> None:
    fake.settings.update(finalize_id_field="id", finalize_thumbprint_field="sha1")
    fake.handler = lambda request: answer({"id": "77", "sha1": THUMBPRINT})
    issued = await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    assert (issued.id_certificate, issued.thumbprint, issued.warnings) == ("77", THUMBPRINT, ())


@pytest.mark.parametrize(
    ("data", "request_code", "named"),
    [
        ({"requestCode": "RC-1"}, "RC-1", "set csr_fields"),
        ({"requestCode": "RC-1", "csr": CERTIFICATE_PEM}, "RC-1", "'csr' is PEM but not"),
        ({"requestCode": "RC-1", "pkcs10": "MIIB..."}, "RC-1", "'pkcs10' is neither"),
        ({"requestCode": "RC-1", "csr": tampered_csr()}, "RC-1", "bad signature"),
        ({"requestCode": 17, "csr": 5}, "17", "'csr' is not a string"),
        ({"csr": CSR_PEM}, None, "set csr_request_code_field"),
        ({"requestCode": "has space", "csr": CSR_PEM}, None, "'requestCode' is missing or"),
        ("RC-1", None, "data is not an object"),  # Redtrust acted: still this error type
        ([CSR_PEM, "RC-1"], None, "data is not an object"),
    ],
)
async def test_an_unusable_create_answer_carries_its_request_code(
    fake: Fake, data: Any, request_code: str | None, named: str
) -> None:
    fake.handler = lambda request: answer(data)
    with pytest.raises(UnusableAnswerError) as caught:
        await fake.call("create_csr", BEARER, [("cn", "A")])
    assert caught.value.request_code == request_code
    assert named in str(caught.value)
    if request_code is not None:
        assert f"(requestCode {request_code})" in str(caught.value)
    assert isinstance(caught.value, ProtocolError)
    assert len(fake.requests) == 1


# --- strict parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"requestCode": "RC-1"},
        {"csr": CSR_PEM},
        {"csr": CSR_PEM, "requestCode": ""},
        {"csr": CSR_PEM, "requestCode": "has space"},
        {"csr": CSR_PEM, "requestCode": True},
        {"csr": CSR_PEM, "requestCode": -1},
        {"csr": CSR_PEM, "requestCode": None},
        {"csr": 5, "requestCode": "RC-1"},
        {"csr": "MIIB...", "requestCode": "RC-1"},
        {"csr": CERTIFICATE_PEM, "requestCode": "RC-1"},
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n", "requestCode": "RC-1"},
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nñ\n", "requestCode": "RC-1"},
        {"csr": tampered_csr(), "requestCode": "RC-1"},
    ],
)
async def test_odd_create_answers_are_protocol_errors(fake: Fake, data: dict[str, Any]) -> None:
    fake.handler = lambda request: answer(data)
    with pytest.raises(ProtocolError) as caught:
        await fake.call("create_csr", BEARER, [("cn", "A")])
    assert caught.value.operation == "csr_create"
    assert BEARER not in str(caught.value)


SHA1_OF_CERTIFICATE = (
    hashlib.sha1(CERTIFICATE.public_bytes(Encoding.DER), usedforsecurity=False).hexdigest().upper()
)


@pytest.mark.parametrize(
    ("data", "id_certificate", "thumbprint", "odd"),
    [
        ({}, None, SHA1_OF_CERTIFICATE, ["'idCertificate'", "'thumbprint'"]),
        ({"thumbprint": THUMBPRINT}, None, THUMBPRINT, ["'idCertificate'"]),
        ({"idCertificate": "42"}, "42", SHA1_OF_CERTIFICATE, ["'thumbprint'"]),
        ({"idCertificate": "42", "thumbprint": "xyz"}, "42", "xyz", ["'xyz'"]),
        (
            {"idCertificate": "42", "thumbprint": THUMBPRINT[:-1]},
            "42",
            THUMBPRINT[:-1],
            ["40 or 64"],
        ),
        (
            {"idCertificate": "42", "thumbprint": 5},
            "42",
            SHA1_OF_CERTIFICATE,
            ["malformed ('int')"],
        ),
        ({"idCertificate": [], "thumbprint": THUMBPRINT}, None, THUMBPRINT, ["'idCertificate'"]),
        ({"idCertificate": False, "thumbprint": THUMBPRINT}, None, THUMBPRINT, ["'idCertificate'"]),
        (
            {"idCertificate": "42", "thumbprint": THUMBPRINT, "serial": "7", "x\n": 1},
            "42",
            THUMBPRINT,
            ["unexpected fields: 'serial', 'x?'"],
        ),
        (
            ["not", "an", "object"],
            None,
            SHA1_OF_CERTIFICATE,
            ["not an object", "'idCertificate' is missing", "'thumbprint' is missing"],
        ),
    ],
)
async def test_odd_finalize_answers_are_returned_with_warnings(
    fake: Fake,
    caplog: pytest.LogCaptureFixture,
    data: Any,
    id_certificate: str | None,
    thumbprint: str,
    odd: list[str],
) -> None:
    # The certificate is stored at Redtrust once finalize succeeded: never raise then.
    fake.handler = lambda request: answer(data)
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        issued = await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    assert (issued.id_certificate, issued.thumbprint) == (id_certificate, thumbprint)
    assert issued.certificate == CERTIFICATE
    assert len(issued.warnings) == len(odd)
    for warning, expected in zip(issued.warnings, odd, strict=True):
        assert expected in warning
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == [f"redtrust csr_finalize RC-1: {w}" for w in issued.warnings]
    assert all(w.isprintable() for w in issued.warnings)


async def test_a_well_formed_finalize_answer_has_no_warnings(fake: Fake) -> None:
    fake.handler = finalized_ok
    assert (await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)).warnings == ()


async def test_error_envelopes_are_api_errors(fake: Fake) -> None:
    fake.handler = lambda request: answer(None, status=404, code="UNKNOWN_REQUEST_CODE")
    with pytest.raises(APIError) as caught:
        await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    assert (caught.value.code, caught.value.status) == ("UNKNOWN_REQUEST_CODE", 404)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert len(fake.requests) == 1


# --- retries ----------------------------------------------------------------------------------


def fail_with(error: type[httpx2.TransportError], then: Handler | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if then is None or handler.failed == 0:  # type: ignore[attr-defined]
            handler.failed += 1  # type: ignore[attr-defined]
            raise error("simulated", request=request)
        return then(request)

    handler.failed = 0  # type: ignore[attr-defined]
    return handler


@pytest.mark.parametrize(
    "error", [httpx2.ReadTimeout, httpx2.ReadError, httpx2.RemoteProtocolError]
)
async def test_a_create_that_may_have_arrived_is_never_resent(
    fake: Fake, error: type[httpx2.TransportError]
) -> None:
    fake.settings["connect_retries"] = 2
    fake.handler = fail_with(error)
    with pytest.raises(OutcomeUnknownError) as caught:
        await fake.call("create_csr", BEARER, [("cn", "A")])
    assert len(fake.requests) == 1
    assert (caught.value.operation, caught.value.request_code) == ("csr_create", None)


@pytest.mark.parametrize("error", [httpx2.ReadTimeout, httpx2.WriteError])
async def test_a_finalize_that_may_have_arrived_is_never_resent(
    fake: Fake, error: type[httpx2.TransportError]
) -> None:
    fake.settings["connect_retries"] = 2
    fake.handler = fail_with(error)
    with pytest.raises(OutcomeUnknownError) as caught:
        await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    assert len(fake.requests) == 1
    assert (caught.value.operation, caught.value.request_code) == ("csr_finalize", "RC-1")
    assert caught.value.http_status == 502


@pytest.mark.parametrize(
    ("operation", "then"), [("create", created_ok), ("finalize", finalized_ok)]
)
async def test_a_refused_connection_is_retried(fake: Fake, operation: str, then: Handler) -> None:
    fake.settings["connect_retries"] = 1
    fake.handler = fail_with(httpx2.ConnectError, then)
    if operation == "create":
        result = await fake.call("create_csr", BEARER, [("cn", "A")])
    else:
        result = await fake.call("finalize_csr", BEARER, "RC-1", CERTIFICATE)
    assert len(fake.requests) == 2
    assert result is not None
    fake.handler = fail_with(httpx2.ConnectError)
    with pytest.raises(TransportError) as caught:
        await fake.call("create_csr", BEARER, [("cn", "A")])
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.reached_server is False


# --- nothing secret in reprs ------------------------------------------------------------------


def test_reprs_show_no_bearer_and_no_pem() -> None:
    config = RedtrustConfig(
        server_url=SERVER, partner="CA_DEMO", shared_secret="the-shared-secret-0123456789abcdef"
    )
    with Client(config, transport=httpx2.MockTransport(created_ok)) as client:
        call = client.calls.create_csr(BEARER, [("cn", "A")])
        assert BEARER not in f"{call!r} {call.request!r}"
        assert call.request.unrepeatable
        final = client.calls.finalize_csr(BEARER, "RC-1", CERTIFICATE_PEM)
        assert BEARER not in f"{final!r} {final.request!r}"
        assert (final.request.unrepeatable, final.request.request_code) == (True, "RC-1")
        result = client.create_csr(BEARER, [("cn", "A")])
    assert CSR_PEM not in repr(result)
    assert "RC-1" in repr(result)
