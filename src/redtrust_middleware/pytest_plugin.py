"""The pytest fixtures of :mod:`redtrust_middleware.testing`, loaded by pytest on its own.

Installing the package registers this module with pytest (a ``pytest11`` entry point named
after the module), so any test of a project that has the package installed can ask for:

- ``redtrust_sandbox``: a fresh in-process :class:`~redtrust_middleware.sandbox.Sandbox`
  (:func:`~redtrust_middleware.testing.make_sandbox`);
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
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported when a fixture runs, so loading the plugin costs nothing
    from .config import RedtrustConfig
    from .sandbox import Sandbox
    from .testing import RedisServer

__all__ = ["redis_server", "redtrust_config", "redtrust_sandbox"]


@pytest.fixture
def redtrust_sandbox() -> Sandbox:
    """A fresh sandbox per test."""
    from .testing import make_sandbox

    return make_sandbox()


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
