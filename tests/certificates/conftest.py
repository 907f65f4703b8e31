"""A world for certificate tests: the sandbox, a demo CA and either client driver.

Expected values are computed here independently of the library: thumbprints with
``hashlib``, OIDs written out as dotted strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from redtrust_middleware import (
    AsyncClient,
    AsyncUserClient,
    Client,
    TokenSet,
    UserClient,
)
from redtrust_middleware.sandbox import DemoCA, Sandbox
from redtrust_middleware.testing import FakeClock, make_config, make_sandbox

#: DN attribute names and their OIDs, written out independently of the library's table.
OIDS = {
    "cn": "2.5.4.3",
    "o": "2.5.4.10",
    "ou": "2.5.4.11",
    "c": "2.5.4.6",
    "l": "2.5.4.7",
    "st": "2.5.4.8",
    "street": "2.5.4.9",
    "serialnumber": "2.5.4.5",
    "emailaddress": "1.2.840.113549.1.9.1",
    "givenname": "2.5.4.42",
    "surname": "2.5.4.4",
    "title": "2.5.4.12",
    "dc": "0.9.2342.19200300.100.1.25",
    "uid": "0.9.2342.19200300.100.1.1",
    "organizationidentifier": "2.5.4.97",
}
DN = [("cn", "Alice Example"), ("o", "Example Org"), ("c", "ES")]


def sha1_thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 of the DER, upper-case hex: the thumbprint, computed without the library."""
    der = certificate.public_bytes(Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def subject_pairs(name: x509.Name) -> list[tuple[str, str]]:
    """``(dotted OID, value)`` of every attribute of a name, in order."""
    return [(attribute.oid.dotted_string, str(attribute.value)) for attribute in name]


#: Attributes whose value is a country code (c, jurisdictionC), upper-cased in the subject.
COUNTRIES = {"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3"}


def expected_pairs(dn: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What a DN should become in a subject: OIDs by name (a dotted OID as it is), country
    codes upper-cased."""
    pairs = [(OIDS.get(name.lower(), name), value) for name, value in dn]
    return [(oid, value.upper() if oid in COUNTRIES else value) for oid, value in pairs]


@dataclass
class World:
    """One driver (sync or async) on the sandbox; :meth:`call` awaits only when needed."""

    kind: str
    sandbox: Sandbox
    clock: FakeClock
    ca: DemoCA
    client: Client | AsyncClient

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``name`` on the client."""
        return await self.on(self.client, name, *args, **kwargs)

    async def on(self, target: object, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``name`` on ``target`` (a client or a bound user client)."""
        result = getattr(target, name)(*args, **kwargs)
        return await result if self.kind == "async" else result

    async def sign_in(self, username: str = "alice") -> TokenSet:
        """Tokens for ``username`` through the temporary-token exchange."""
        tokens = await self.call("exchange", self.sandbox.issue_temp_token(username))
        assert isinstance(tokens, TokenSet)
        return tokens

    def bound(self, tokens: TokenSet) -> UserClient | AsyncUserClient:
        """The client bound to ``tokens``, as the web context hands it out."""
        if isinstance(self.client, AsyncClient):
            return AsyncUserClient(self.client, tokens)
        return UserClient(self.client, tokens)

    def calls(self) -> dict[str, int]:
        """A copy of the sandbox's counters."""
        return dict(self.sandbox.calls)


def make_world(kind: str, **config: Any) -> World:
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    settings = make_config(profile="ra-api", **config)
    client: Client | AsyncClient
    if kind == "sync":
        client = Client(settings, transport=sandbox.transport(), clock=clock)
    else:
        client = AsyncClient(settings, transport=sandbox.async_transport(), clock=clock)
    return World(kind, sandbox, clock, DemoCA(clock=clock), client)


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """Each test runs once per driver."""
    made = make_world(request.param)
    yield made
    if isinstance(made.client, Client):
        made.client.close()
