"""``refresh_timeout``: the refresh call's own deadline, its validation and where it is read
(``RedtrustConfig``, ``REDTRUST_REFRESH_TIMEOUT``, Django's ``REDTRUST["REFRESH_TIMEOUT"]``),
and over a real socket: only the refresh call gets it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from redtrust_middleware import (
    AsyncClient,
    Client,
    ConfigurationError,
    RedtrustConfig,
    UpstreamTimeout,
)
from redtrust_middleware.config import RA_API
from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.tokens import TokenSet

LATENCY = 1.0  # the sandbox's answer comes this long after it handled the call
SECRET = "refresh-timeout-secret-0123456789"


def make(**fields: Any) -> RedtrustConfig:
    return RedtrustConfig(
        server_url="https://redtrust.example", partner="CA_DEMO", shared_secret=SECRET, **fields
    )


def env(**variables: str) -> dict[str, str]:
    return {
        "REDTRUST_SERVER_URL": "https://redtrust.example",
        "REDTRUST_PARTNER": "CA_DEMO",
        "REDTRUST_SHARED_SECRET": SECRET,
        **variables,
    }


def test_the_default_is_three_times_the_timeout() -> None:
    assert make().refresh_timeout is None
    assert make().refresh_deadline == 30.0
    assert make(timeout=2.0).refresh_deadline == 6.0
    assert make(timeout=2.0, refresh_timeout=2.0).refresh_deadline == 2.0
    assert make(timeout=2.0, refresh_timeout=45).refresh_deadline == 45.0


@pytest.mark.parametrize("value", [1.9, 901, -1, True, "30", float("nan")])
def test_a_bad_refresh_timeout_names_the_field_and_the_range(value: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make(timeout=2.0, refresh_timeout=value)
    assert caught.value.field == "refresh_timeout"
    assert "from 2 to 900 (at least timeout)" in caught.value.problem


def test_from_env_reads_the_refresh_settings() -> None:
    config = RedtrustConfig.from_env(
        env(REDTRUST_TIMEOUT="4", REDTRUST_REFRESH_TIMEOUT="20", REDTRUST_REFRESH_LEEWAY="15")
    )
    assert (config.timeout, config.refresh_timeout, config.refresh_leeway) == (4.0, 20.0, 15.0)
    assert RedtrustConfig.from_env(env()).refresh_timeout is None


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"REDTRUST_REFRESH_TIMEOUT": "soon"}, "REDTRUST_REFRESH_TIMEOUT"),
        ({"REDTRUST_REFRESH_TIMEOUT": "5"}, "REDTRUST_REFRESH_TIMEOUT"),  # below the timeout
        ({"REDTRUST_REFRESH_LEEWAY": "1m"}, "REDTRUST_REFRESH_LEEWAY"),
        ({"REDTRUST_REFRESH_LEEWAY": "-1"}, "REDTRUST_REFRESH_LEEWAY"),
    ],
)
def test_from_env_errors_name_the_variable(variables: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(**variables))
    assert caught.value.field == field


def test_django_reads_refresh_timeout() -> None:
    from django.test import override_settings

    from redtrust_django.conf import read_settings

    base = {
        "SERVER_URL": "https://redtrust.test",
        "PARTNER": "CA_TEST",
        "SHARED_SECRET": "redtrust-testing-secret-0123456789",
        "PUBLIC_URL": "https://app.test",
    }
    with override_settings(REDTRUST={**base, "TIMEOUT": 3, "REFRESH_TIMEOUT": 12}):
        config, _ = read_settings()
    assert config.refresh_deadline == 12.0
    with (
        override_settings(REDTRUST={**base, "TIMEOUT": 3, "REFRESH_TIMEOUT": 1}),
        pytest.raises(ConfigurationError) as caught,
    ):
        read_settings()
    assert caught.value.field == "REDTRUST['REFRESH_TIMEOUT']"


# -- over a socket ---------------------------------------------------------------------------


@pytest.fixture
def slow_sandbox() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": "s" * 32},
            users={"demo": "demo"},
            redirect_prefixes=("http://127.0.0.1:8000/",),
        )
    )
    with running(sandbox) as url:
        yield sandbox, url


def _config(url: str, refresh_timeout: float) -> RedtrustConfig:
    return RedtrustConfig(
        server_url=url,
        partner="CA_DEMO",
        shared_secret="s" * 32,
        profile=RA_API,
        timeout=0.3,
        refresh_timeout=refresh_timeout,
        connect_retries=0,
    )


def _signed_in(sandbox: Sandbox, url: str) -> TokenSet:
    with Client(_config(url, 0.3)) as client:
        return client.login("demo", "demo")


@pytest.mark.network
def test_only_the_refresh_call_gets_the_longer_deadline_sync(
    slow_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = slow_sandbox
    tokens = _signed_in(sandbox, url)
    sandbox.latency = LATENCY
    with Client(_config(url, 3 * LATENCY)) as client:
        with pytest.raises(UpstreamTimeout):
            client.login("demo", "demo")  # `timeout` for every other call
        refreshed = client.refresh(tokens)  # slower than `timeout`, within its own deadline
    assert refreshed.refresh_token != tokens.refresh_token
    with Client(_config(url, 0.5)) as client, pytest.raises(UpstreamTimeout) as caught:
        client.refresh(refreshed)
    assert caught.value.reached_server  # handled upstream: an unknown outcome
    # Both refreshes were handled upstream; so was the login that timed out.
    assert sorted(s.refreshes for s in sandbox.sessions_for("demo")) == [0, 2]


@pytest.mark.network
@pytest.mark.anyio
async def test_only_the_refresh_call_gets_the_longer_deadline_async(
    slow_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = slow_sandbox
    tokens = _signed_in(sandbox, url)
    sandbox.latency = LATENCY
    async with AsyncClient(_config(url, 3 * LATENCY)) as client:
        with pytest.raises(UpstreamTimeout):
            await client.login("demo", "demo")
        refreshed = await client.refresh(tokens)
    assert refreshed.refresh_token != tokens.refresh_token
    async with AsyncClient(_config(url, 0.5)) as client:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.refresh(refreshed)
    assert caught.value.reached_server
