"""A loosened setting or a bug in the library's signing shows up against the sandbox.

The sandbox checks requests with code of its own, so loosening what the library accepts (a
setting such as ``hash_types``, or a broken HMAC) makes the client send what Redtrust may
refuse, and the sandbox refuses it: the test suite sees it instead of the same code agreeing
with itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from redtrust_middleware import APIError, signing

from .conftest import DN, World, make_world

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each test runs once per driver."""
    return str(request.param)


@pytest.mark.parametrize(
    ("settings", "request_options", "named"),
    [
        ({"hash_types": ("SHA256", "SHA384", "SHA512", "MD5")}, {"hash_type": "MD5"}, "'hashType'"),
        (
            {"key_lengths": ("RSA:1024", "RSA:2048", "EC:256", "EC:384", "EC:521")},
            {"key_type": "EC", "key_length": 521},
            "'keyLength'",
        ),
        ({"key_lengths": ("RSA:2048", "DSA:2048")}, {"key_type": "DSA"}, "'keyType'"),
    ],
)
async def test_a_loosened_setting_meets_the_sandboxs_refusal(
    kind: str, settings: dict[str, Any], request_options: dict[str, object], named: str
) -> None:
    world = make_world(kind, **settings)
    tokens = await world.sign_in()
    with pytest.raises(APIError) as caught:
        await world.call("create_csr", tokens, DN, **request_options)
    assert (caught.value.code, caught.value.status) == ("INVALID_REQUEST", 400)
    assert named in caught.value.message
    assert world.calls()["csr_create"] == 1  # the client sent it: only the sandbox caught it
    assert world.sandbox.record_counts()["csr_requests"] == 0


async def test_a_dn_name_the_sandbox_does_not_know_is_refused_and_its_oid_accepted(
    kind: str,
) -> None:
    world = make_world(kind, dn_attributes={"pseudonym": "2.5.4.65"})
    tokens = await world.sign_in()
    with pytest.raises(APIError) as caught:
        await world.call("create_csr", tokens, [("cn", "Alice"), ("Pseudonym", "Al")])
    assert (caught.value.code, caught.value.status) == ("INVALID_REQUEST", 400)
    assert "'dn[1]'" in caught.value.message
    assert world.calls()["csr_create"] == 1
    request = await world.call("create_csr", tokens, [("cn", "Alice"), ("2.5.4.65", "Al")])
    assert [(a.oid.dotted_string, a.value) for a in request.csr.subject] == [
        ("2.5.4.3", "Alice"),
        ("2.5.4.65", "Al"),
    ]


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
