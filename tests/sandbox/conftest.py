"""Shared fixtures of the sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from redtrust_middleware.sandbox import Sandbox, SandboxConfig

from ._support import OTHER_SECRET, PARTNER, SECRET, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The sandbox's clock, at START."""
    return FakeClock()


@pytest.fixture
def config() -> SandboxConfig:
    """Two partners, two users, any domain, one redirect origin."""
    return SandboxConfig(
        partners={PARTNER: SECRET, "OTHER": OTHER_SECRET},
        users={"alice": "wonderland", "bob": "builder"},
        redirect_prefixes=("https://app.example/",),
    )


@pytest.fixture
def sandbox(config: SandboxConfig, clock: FakeClock) -> Sandbox:
    """A sandbox on the fake clock."""
    return Sandbox(config, clock=clock)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx2.Client]:
    """A sync client wired to the sandbox through its mock transport."""
    with httpx2.Client(transport=sandbox.transport(), base_url="https://rt.example") as c:
        yield c
