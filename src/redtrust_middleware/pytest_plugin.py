"""The pytest fixtures of :mod:`redtrust_middleware.testing`, loaded by pytest on its own.

Installing the package registers this module with pytest (a ``pytest11`` entry point named
after the module), so any test of a project that has the package installed can ask for:

- ``redtrust_clock``: a :class:`~redtrust_middleware.testing.FakeClock` at the current
  time, which moves only when told to;
- ``redtrust_sandbox``: a fresh in-process :class:`~redtrust_middleware.sandbox.Sandbox`
  (:func:`~redtrust_middleware.testing.make_sandbox`) on ``redtrust_clock``: give the app the
  sandbox's clock (``make_async_manager(redtrust_sandbox)`` does) and
  ``expire_access_token(redtrust_sandbox)`` makes the signed-in users' tokens expire;
- ``redtrust_config``: a config that talks to it (:func:`~redtrust_middleware.testing.make_config`);
- ``redis_server``: a throwaway ``redis-server`` (skips without the binary, fails in strict
  mode).

With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, list it yourself:
``pytest_plugins = ["redtrust_middleware.pytest_plugin"]`` (or ``-p
redtrust_middleware.pytest_plugin``); ``-p no:redtrust_middleware.pytest_plugin`` turns it
off. The helpers stay in :mod:`redtrust_middleware.testing`, which imports without pytest.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported when a fixture runs, so loading the plugin costs nothing
    from .config import RedtrustConfig
    from .sandbox import Sandbox
    from .testing import FakeClock, RedisServer

__all__ = ["redis_server", "redtrust_clock", "redtrust_config", "redtrust_sandbox"]


@pytest.fixture
def redtrust_clock() -> FakeClock:
    """A fake clock per test, at the current time: code left on the real clock (a client
    without ``clock=``, a cookie's expiry) agrees with it until the test moves it."""
    from .testing import FakeClock

    return FakeClock(time.time())


@pytest.fixture
def redtrust_sandbox(redtrust_clock: FakeClock) -> Sandbox:
    """A fresh sandbox per test, on ``redtrust_clock``."""
    from .testing import make_sandbox

    return make_sandbox(clock=redtrust_clock)


@pytest.fixture
def redtrust_config() -> RedtrustConfig:
    """A config that talks to :func:`redtrust_sandbox` through its transport."""
    from .testing import make_config

    return make_config()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh ``redis-server`` for one test (skips without the binary, unless strict)."""
    from .testing import RedisServer, require_system

    require_system(
        shutil.which("redis-server") is not None,
        "redis-server is missing (apt-get install -y redis-server)",
    )
    with RedisServer() as server:
        yield server
