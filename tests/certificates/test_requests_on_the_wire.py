"""What the clients put on the wire for a certificate request, and DN attributes given as OIDs.

Expected subjects come from the ``openssl`` command (``-nameopt RFC2253,oid``: numeric OIDs,
last RDN first), expected bodies from the fields ``redtrust-api.md`` §4 lists; the sandbox
accepts what it is sent with its own checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier

from redtrust_middleware import APIError, AsyncClient, Client, InvalidInputError, RedtrustConfig
from redtrust_middleware.sandbox import DemoCA, Sandbox, running
from redtrust_middleware.testing import FakeClock, make_config, make_sandbox

from .conftest import DN

pytestmark = pytest.mark.anyio

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

#: An EV-like subject: pseudonym, jurisdictionC and businessCategory by dotted OID.
OID_DN = [
    ("cn", "Alice Example"),
    ("2.5.4.65", "Al"),  # pseudonym
    ("1.3.6.1.4.1.311.60.2.1.3", "es"),  # jurisdictionC: a country, upper-cased
    ("2.5.4.15", "Private Organization"),  # businessCategory
    ("c", "ES"),
]
#: ``openssl ... -nameopt RFC2253,oid`` of that subject, written out by hand.
OID_SUBJECT = (
    "2.5.4.6=ES,2.5.4.15=Private Organization,1.3.6.1.4.1.311.60.2.1.3=ES,"
    "2.5.4.65=Al,2.5.4.3=Alice Example"
)


def openssl_subject(kind: str, pem: bytes) -> str:
    """The subject line ``openssl x509`` / ``openssl req`` prints, numeric OIDs."""
    assert OPENSSL is not None
    done = subprocess.run(
        [OPENSSL, kind, "-noout", "-subject", "-nameopt", "RFC2253,oid"],
        input=pem,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode().strip().removeprefix("subject=")


async def enroll(kind: str, config: RedtrustConfig, tokens: str, dn: Any, **options: Any) -> Any:
    """``enroll`` through the sync or the async client (same arguments, same result)."""
    ca = DemoCA()
    if kind == "sync":
        with Client(config) as client:
            return client.enroll(tokens, dn, issue=ca.issue, **options)
    async with AsyncClient(config) as aclient:
        return await aclient.enroll(tokens, dn, issue=ca.issue, **options)


@needs_openssl
@pytest.mark.network
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_dn_with_dotted_oids_is_issued_over_a_socket(kind: str) -> None:
    sandbox = make_sandbox()
    with running(sandbox) as url:
        config = make_config(server_url=url, profile="ra-api")
        with Client(config) as client:
            tokens = client.exchange(sandbox.issue_temp_token("alice")).access_token
        result = await enroll(kind, config, tokens, OID_DN, key_type="EC")
    csr_pem = result.request.csr.public_bytes(Encoding.PEM)
    certificate_pem = result.issued.certificate.public_bytes(Encoding.PEM)
    assert openssl_subject("req", csr_pem) == OID_SUBJECT
    assert openssl_subject("x509", certificate_pem) == OID_SUBJECT
    (held,) = sandbox.certificates_for("alice")
    assert held.thumbprint == result.issued.thumbprint


# --- the request body on the wire --------------------------------------------------------


class Wire:
    """The sandbox behind a transport that keeps every request the client sent."""

    def __init__(self, kind: str, **settings: Any) -> None:
        self.kind = kind
        self.clock = FakeClock()
        self.sandbox: Sandbox = make_sandbox(clock=self.clock)
        self.sent: list[httpx2.Request] = []
        transport = httpx2.MockTransport(self._handle)
        config = make_config(profile="ra-api", **settings)
        self.client: Client | AsyncClient = (
            Client(config, transport=transport, clock=self.clock)
            if kind == "sync"
            else AsyncClient(config, transport=transport, clock=self.clock)
        )

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(request)
        return self.sandbox.handle(request)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, name)(*args, **kwargs)
        return await result if self.kind == "async" else result

    async def bearer(self) -> str:
        tokens = await self.call("exchange", self.sandbox.issue_temp_token("alice"))
        return str(tokens.access_token)

    def body(self, path: str) -> Any:
        (request,) = [r for r in self.sent if r.url.path == path]
        return json.loads(request.content)

    async def close(self) -> None:
        if isinstance(self.client, AsyncClient):
            await self.client.aclose()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[Wire]:
    made = Wire(request.param)
    yield made
    await made.close()


CREATE = "/raapi/v1/csr/create"
DN_BODY = [
    {"attribute": "cn", "value": "Alice Example"},
    {"attribute": "o", "value": "Example Org"},
    {"attribute": "c", "value": "ES"},
]


async def test_the_reference_sample_fields_are_sent_and_accepted(wire: Wire) -> None:
    # The RA API reference's sample: requestCode, info, groupIds, provider besides the rest.
    bearer = await wire.bearer()
    request = await wire.call(
        "create_csr",
        bearer,
        DN,
        hash_type="SHA384",
        key_length=2048,
        key_type="RSA",
        provider="CAMERFIRMA",
        info={"proident_9b": "string"},
        group_ids=[0],
        request_code="string",
    )
    assert wire.body(CREATE) == {
        "dn": DN_BODY,
        "hashType": "SHA384",
        "keyLength": 2048,
        "keyType": "RSA",
        "provider": "CAMERFIRMA",
        "info": {"proident_9b": "string"},
        "groupIds": [0],
        "requestCode": "string",
    }
    certificate = DemoCA(clock=wire.clock).issue(request.csr)
    await wire.call("finalize_csr", bearer, request.request_code, certificate)
    (held,) = wire.sandbox.certificates_for("alice")
    assert (held.provider, dict(held.info), held.group_ids) == (
        "CAMERFIRMA",
        {"proident_9b": "string"},
        (0,),
    )


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        ({}, {"hashType": "SHA384"}),
        ({"hash_type": "sha256"}, {"hashType": "SHA256"}),
        ({"key_type": "ec"}, {"hashType": "SHA384", "keyType": "EC"}),
        ({"key_length": 3072}, {"hashType": "SHA384", "keyLength": 3072}),
        (
            {"key_type": "EC", "key_length": 384},
            {"hashType": "SHA384", "keyType": "EC", "keyLength": 384},
        ),
        ({"provider": "CAMERFIRMA"}, {"hashType": "SHA384", "provider": "CAMERFIRMA"}),
        ({"request_code": "RC-7"}, {"hashType": "SHA384", "requestCode": "RC-7"}),
        ({"info": {}, "group_ids": []}, {"hashType": "SHA384"}),
    ],
)
async def test_only_the_given_fields_are_sent(
    wire: Wire, options: dict[str, Any], sent: dict[str, Any]
) -> None:
    await wire.call("create_csr", await wire.bearer(), DN, **options)
    assert wire.body(CREATE) == {"dn": DN_BODY, **sent}


async def test_a_renewal_sends_the_thumbprint_and_nothing_it_was_not_given(wire: Wire) -> None:
    bearer = await wire.bearer()
    first = await wire.call("enroll", bearer, DN, issue=DemoCA(clock=wire.clock).issue)
    wire.sent.clear()
    await wire.call("renew", bearer, first.issued.thumbprint, DN, issue=DemoCA().issue)
    assert wire.body(CREATE) == {
        "dn": DN_BODY,
        "hashType": "SHA384",
        "thumbprintToRenew": first.issued.thumbprint,
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_configured_finalize_field_names_are_sent(kind: str) -> None:
    # The sandbox takes requestCode and certificate: other names are refused there, which
    # shows they are the ones sent.
    wire = Wire(kind, finalize_request_code_field="code", finalize_certificate_field="pem")
    bearer = await wire.bearer()
    request = await wire.call("create_csr", bearer, DN)
    certificate = DemoCA(clock=wire.clock).issue(request.csr)
    with pytest.raises(APIError, match="requestCode"):
        await wire.call("finalize_csr", bearer, request.request_code, certificate)
    sent = wire.body("/raapi/v1/csr/finalize")
    assert set(sent) == {"code", "pem"}
    assert sent["code"] == request.request_code
    assert sent["pem"] == certificate.public_bytes(Encoding.PEM).decode()
    await wire.close()


PSEUDONYM = "2.5.4.65"  # X.520 pseudonym: its upper bound is 128 characters, not 64


@pytest.mark.parametrize(
    ("attribute", "length", "accepted"),
    [
        (PSEUDONYM, 128, True),  # an attribute given by OID: beyond the named ones' 64
        (PSEUDONYM, 255, True),
        (PSEUDONYM, 256, False),
        ("cn", 64, True),
        ("cn", 65, False),
        ("2.5.4.3", 65, False),  # cn by its OID keeps cn's bound
    ],
)
async def test_dn_value_lengths_follow_the_attribute(
    wire: Wire, attribute: str, length: int, accepted: bool
) -> None:
    dn = [("cn", "Alice")] if attribute != "cn" else []
    dn.append((attribute, "p" * length))
    bearer = await wire.bearer()
    if not accepted:
        with pytest.raises(InvalidInputError, match=r"1 to (64|255) bytes"):
            await wire.call("create_csr", bearer, dn)
        assert not [r for r in wire.sent if r.url.path == CREATE]  # refused before sending
        return
    request = await wire.call("create_csr", bearer, dn)  # the sandbox accepts it too
    oid = ObjectIdentifier(attribute if attribute[0].isdigit() else "2.5.4.3")
    (value,) = request.csr.subject.get_attributes_for_oid(oid)
    assert value.value == "p" * length


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("ab" * 20, "AB" * 20),  # hex: any case, sent upper case
        ("AB:CD:EF:01", "AB:CD:EF:01"),  # a form the docs do not rule out: sent as given
    ],
)
async def test_a_thumbprint_to_renew_is_sent_in_the_form_redtrust_gave(
    wire: Wire, given: str, sent: str
) -> None:
    with pytest.raises(APIError):  # the sandbox knows no such certificate; what was sent counts
        await wire.call("create_csr", await wire.bearer(), DN, thumbprint_to_renew=given)
    assert wire.body(CREATE)["thumbprintToRenew"] == sent
