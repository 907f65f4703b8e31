"""A bug in the library's allow-lists or signing shows up against the sandbox.

The sandbox checks requests with code of its own, so loosening a library table (or breaking the
library's HMAC) makes the client send what Redtrust would refuse, and the sandbox refuses it:
the test suite sees the bug instead of the same code agreeing with itself.
"""

from __future__ import annotations

import hashlib
import hmac
from types import MappingProxyType

import pytest
from cryptography.x509.oid import NameOID

from redtrust_middleware import APIError, certificates, signing

from .conftest import DN, World

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("table", "loosened", "request_options", "named"),
    [
        (
            "HASH_TYPES",
            ("SHA256", "SHA384", "SHA512", "MD5"),
            {"hash_type": "MD5"},
            "'hashType'",
        ),
        (
            "KEY_LENGTHS",
            MappingProxyType({"RSA": (1024, 2048), "EC": (256, 384, 521)}),
            {"key_type": "EC", "key_length": 521},
            "'keyLength'",
        ),
        (
            "KEY_LENGTHS",
            MappingProxyType({"RSA": (2048,), "EC": (256,), "DSA": (2048,)}),
            {"key_type": "DSA", "key_length": 2048},
            "'keyType'",
        ),
    ],
)
async def test_a_loosened_allow_list_meets_the_sandboxs_refusal(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    loosened: object,
    request_options: dict[str, object],
    named: str,
) -> None:
    tokens = await world.sign_in()
    monkeypatch.setattr(certificates, table, loosened)
    with pytest.raises(APIError) as caught:
        await world.call("create_csr", tokens, DN, **request_options)
    assert (caught.value.code, caught.value.status) == ("INVALID_REQUEST", 400)
    assert named in caught.value.message
    assert world.calls()["csr_create"] == 1  # the client sent it: only the sandbox caught it
    assert world.sandbox.record_counts()["csr_requests"] == 0


async def test_a_dn_attribute_the_library_wrongly_allows_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await world.sign_in()
    loosened = MappingProxyType({**certificates.DN_ATTRIBUTES, "pseudonym": NameOID.PSEUDONYM})
    monkeypatch.setattr(certificates, "DN_ATTRIBUTES", loosened)
    with pytest.raises(APIError) as caught:
        await world.call("create_csr", tokens, [("cn", "Alice"), ("pseudonym", "Al")])
    assert (caught.value.code, caught.value.status) == ("INVALID_REQUEST", 400)
    assert "'dn[1]'" in caught.value.message
    assert world.calls()["csr_create"] == 1


def _sign_without_the_colon(partner: str, timestamp: int, secret: str) -> str:
    """A plausible bug: the message ``PARTNERTIMESTAMP`` instead of ``PARTNER:TIMESTAMP``."""
    message = f"{partner}{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def test_a_broken_library_hmac_meets_the_sandboxs_refusal(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = world.sandbox.issue_temp_token("alice")
    monkeypatch.setattr(signing, "sign", _sign_without_the_colon)
    with pytest.raises(APIError) as caught:
        await world.call("exchange", token)
    assert (caught.value.code, caught.value.status) == ("INVALID_SIGNATURE", 401)
    assert world.calls()["exchange"] == 1
    monkeypatch.undo()  # the library's own HMAC is accepted (and the refusal used nothing up)
    assert (await world.call("exchange", token)).access_token
