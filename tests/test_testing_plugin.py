"""The pytest plugin users enable with ``pytest_plugins = ["redtrust_middleware.testing"]``."""

from __future__ import annotations

import pytest

from redtrust_middleware import Client
from redtrust_middleware.testing import TEST_USERS, make_config, make_sandbox


def test_helpers_make_a_matching_sandbox_and_config() -> None:
    sandbox = make_sandbox()
    with Client(make_config(), transport=sandbox.transport()) as client:
        tokens = client.exchange(sandbox.issue_temp_token("alice"))
        direct = client.login("bob", TEST_USERS["bob"])
    assert tokens.subject == "alice"
    assert direct.subject == "bob"
    assert sandbox.calls["exchange"] == 1


def test_the_fixtures_work_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["redtrust_middleware.testing"]\n')
    pytester.makepyfile(
        """
        from redtrust_middleware import Client

        def test_sign_in(redtrust_sandbox, redtrust_config):
            client = Client(redtrust_config, transport=redtrust_sandbox.transport())
            tokens = client.exchange(redtrust_sandbox.issue_temp_token("alice"))
            assert tokens.subject == "alice"
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
