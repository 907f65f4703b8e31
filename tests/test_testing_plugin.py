"""The helpers of ``redtrust_middleware.testing`` and the fixtures of its pytest plugin.

The plugin (``redtrust_middleware.pytest_plugin``) is registered with a ``pytest11`` entry
point, so a user's suite gets the fixtures without a conftest; ``testing`` imports without
pytest.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import sys

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


SIGN_IN = """
from redtrust_middleware import Client

def test_sign_in(redtrust_sandbox, redtrust_config):
    client = Client(redtrust_config, transport=redtrust_sandbox.transport())
    tokens = client.exchange(redtrust_sandbox.issue_temp_token("alice"))
    assert tokens.subject == "alice"
"""


def test_the_plugin_is_registered_with_pytest() -> None:
    (entry,) = (
        ep
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.value.startswith("redtrust_middleware")
    )
    assert entry.value == "redtrust_middleware.pytest_plugin"
    assert entry.name == entry.value  # so that pytest_plugins = [the module] is no duplicate


def test_the_fixtures_work_in_a_users_suite_without_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SIGN_IN)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:django")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "listed",
    [
        "redtrust_middleware.pytest_plugin",  # needed with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
        "redtrust_middleware.testing",  # what earlier versions documented
    ],
)
def test_listing_the_plugin_as_well_still_works(pytester: pytest.Pytester, listed: str) -> None:
    pytester.makeconftest(f"pytest_plugins = [{listed!r}]\n")
    pytester.makepyfile(SIGN_IN)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:django")
    result.assert_outcomes(passed=1)


def test_the_helpers_import_without_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pytest", None)
    monkeypatch.delitem(sys.modules, "redtrust_middleware.testing")  # put back afterwards
    testing = importlib.import_module("redtrust_middleware.testing")
    assert testing.make_config().partner == testing.TEST_PARTNER
    assert testing.require_system(True, "present") is None


def test_the_redis_fixture_works_in_a_users_suite(pytester: pytest.Pytester) -> None:
    require_system(shutil.which("redis-server") is not None, "redis-server is missing")
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
