"""The lifecycle over a real socket: the sandbox served by uvicorn, the sync client on TCP."""

from __future__ import annotations

import pytest

from redtrust_middleware import AsyncClient, Client
from redtrust_middleware.sandbox import DemoCA, running
from redtrust_middleware.testing import make_config, make_sandbox

from .conftest import DN, sha1_thumbprint

pytestmark = [pytest.mark.network, pytest.mark.anyio]


async def test_issue_and_renew_over_a_socket() -> None:
    sandbox = make_sandbox()
    ca = DemoCA()
    with running(sandbox) as url:
        config = make_config(server_url=url, profile="ra-api")
        with Client(config) as client:
            tokens = client.exchange(sandbox.issue_temp_token("alice"))
            first = client.enroll(tokens, DN, issue=ca.issue)
        async with AsyncClient(config) as aclient:
            renewed = await aclient.renew(tokens, first.issued.thumbprint, DN, issue=ca.issue)
    assert renewed.issued.thumbprint == sha1_thumbprint(renewed.issued.certificate)
    held = [c.thumbprint for c in sandbox.certificates_for("alice")]
    assert held == [renewed.issued.thumbprint]
    assert sandbox.calls["csr_create"] == sandbox.calls["csr_finalize"] == 2
