"""The pytest plugin users enable with ``pytest_plugins = ["redtrust_middleware.testing"]``."""

from __future__ import annotations

import shutil

import pytest

from redtrust_middleware import Client
from redtrust_middleware.testing import (
    TEST_USERS,
    RedisServer,
    make_config,
    make_sandbox,
    require_system,
)


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
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:django")
    result.assert_outcomes(passed=1)


def test_the_redis_fixture_works_in_a_users_suite(pytester: pytest.Pytester) -> None:
    require_system(shutil.which("redis-server") is not None, "redis-server is missing")
    pytester.makeconftest('pytest_plugins = ["redtrust_middleware.testing"]\n')
    pytester.makepyfile(
        """
        from redtrust_middleware.stores import RedisStore

        def test_store(redis_server):
            store = RedisStore(url=redis_server.url)
            store.set("k", b"v", ttl=5)
            assert store.get("k") == b"v"
            store.close()
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:django")
    result.assert_outcomes(passed=1)


def test_redis_server_stops_and_starts_on_its_port() -> None:
    require_system(shutil.which("redis-server") is not None, "redis-server is missing")
    with RedisServer() as server:
        port = server.port
        assert server.ping()
        server.stop()
        assert not server.running
        assert not server.ping()
        server.start()
        assert server.port == port
        assert server.ping()
        assert "running=True" in repr(server)
    assert not server.running


def test_a_missing_redis_binary_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-redis-server"):
        RedisServer(executable="no-such-redis-server")
