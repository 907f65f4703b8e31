"""Helpers and pytest fixtures for testing your own app against the sandbox.

Enable the fixtures in a ``conftest.py``::

    pytest_plugins = ["redtrust_middleware.testing"]

    def test_certificates_page(redtrust_sandbox, redtrust_config):
        client = Client(redtrust_config, transport=redtrust_sandbox.transport())
        tokens = client.exchange(redtrust_sandbox.issue_temp_token("alice"))
        ...

Everything runs in-process (no socket): the sandbox answers through ``httpx2`` mock
transports. Use :func:`redtrust_middleware.sandbox.running` for a real socket.
"""

from __future__ import annotations

import pytest

from ._clock import Clock, system_clock
from .config import RedtrustConfig
from .sandbox import Sandbox, SandboxConfig

__all__ = [
    "TEST_APP_URL",
    "TEST_PARTNER",
    "TEST_SECRET",
    "TEST_SERVER_URL",
    "TEST_USERS",
    "FakeClock",
    "make_config",
    "make_sandbox",
    "redtrust_config",
    "redtrust_sandbox",
]

TEST_PARTNER = "CA_TEST"
TEST_SECRET = "redtrust-testing-secret-0123456789"
TEST_APP_URL = "https://app.test"
TEST_USERS = {"alice": "alice-password", "bob": "bob-password"}
#: The server URL used in tests; nothing listens there, the mock transport answers.
TEST_SERVER_URL = "https://redtrust.test"


class FakeClock:
    """A clock that moves only when told to; pass it to the sandbox and the library alike."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative value)."""
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` stand-in that lets the time pass instantly."""
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """An ``anyio.sleep`` stand-in that lets the time pass instantly."""
        self.advance(seconds)


def make_sandbox(*, clock: Clock = system_clock, access_token_ttl: int = 300) -> Sandbox:
    """A sandbox that knows :data:`TEST_PARTNER`, :data:`TEST_USERS` and :data:`TEST_APP_URL`."""
    return Sandbox(
        SandboxConfig(
            partners={TEST_PARTNER: TEST_SECRET},
            users=TEST_USERS,
            redirect_prefixes=(TEST_APP_URL + "/",),
            access_token_ttl=access_token_ttl,
        ),
        clock=clock,
    )


def make_config(**overrides: object) -> RedtrustConfig:
    """A config matching :func:`make_sandbox` (keywords override any field)."""
    values: dict[str, object] = {
        "server_url": TEST_SERVER_URL,
        "partner": TEST_PARTNER,
        "shared_secret": TEST_SECRET,
        "public_url": TEST_APP_URL,
        "encryption_keys": ("redtrust-testing-encryption-key-0123456789",),
    }
    values.update(overrides)
    return RedtrustConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def redtrust_sandbox() -> Sandbox:
    """A fresh sandbox per test."""
    return make_sandbox()


@pytest.fixture
def redtrust_config() -> RedtrustConfig:
    """A config that talks to :func:`redtrust_sandbox` through its transport."""
    return make_config()
