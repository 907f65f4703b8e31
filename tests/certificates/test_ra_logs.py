"""The certificate calls and the direct login, in the logs: one INFO event when each is
done, a WARNING when it failed, a DEBUG line per attempt, and no credential in any field."""

from __future__ import annotations

import logging

import pytest
from tests.logscan import check_shapes, of, scan, watch_wire

from redtrust_middleware.exceptions import APIError
from redtrust_middleware.testing import TEST_USERS

from .conftest import DN, World

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_direct_login_enroll_and_renew_log_their_events_and_no_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(world.sandbox)
    tokens = await world.call("login", "alice", TEST_USERS["alice"])
    enrolled = await world.call("enroll", tokens, DN, issue=world.ca.issue)
    await world.call("renew", tokens, enrolled.issued.thumbprint, DN, issue=world.ca.issue)
    with pytest.raises(APIError):
        await world.call("login", "alice", "not-" + TEST_USERS["alice"])
    world.sandbox.fail_next(1, 503, endpoint="csr_create")
    with pytest.raises(APIError):
        await world.call("create_csr", tokens, DN)

    records = caplog.records
    check_shapes(records)
    secrets = [*wire, *TEST_USERS.values(), "not-" + TEST_USERS["alice"]]
    assert tokens.access_token in wire.values  # the scan looks for what was issued
    assert scan(records, [*secrets, world.client.config.shared_secret]) > 0
    partner = world.client.config.partner
    (login,) = of(records, "redtrust.direct_login.completed")
    assert (login["operation"], login["outcome"], login["partner"]) == ("login", "ok", partner)
    (refused,) = of(records, "redtrust.direct_login.failed")
    assert (refused["outcome"], refused["error_type"]) == ("error", "APIError")
    assert refused["status"] in (400, 401, 403)
    assert refused["code"]
    done = of(records, "redtrust.ra.completed")
    assert [d["operation"] for d in done] == ["csr_create", "csr_finalize"] * 2
    assert all(d["latency_ms"] >= 0 and d["partner"] == partner for d in done)
    (failed,) = of(records, "redtrust.ra.failed")
    assert (failed["operation"], failed["status"]) == ("csr_create", 503)
    attempts = [c["operation"] for c in of(records, "redtrust.call")]
    assert attempts.count("csr_create") == 3
    assert attempts.count("login") == 2
