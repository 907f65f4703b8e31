"""The Starlette example on a shared Redis store, for the multi-process storm test and the
fault tests (on a MemoryStore when ``REDTRUST_REDIS_URL`` is not set: one worker only); and
the bare WSGI example and the Flask example the same way (``wsgi_app``, ``flask_app``).

    REDTRUST_REDIS_URL=redis://... REDTRUST_*=... \
    python -m uvicorn tests.storm_app:app --workers 4
    REDTRUST_REDIS_URL=redis://... REDTRUST_*=... \
    python -m gunicorn tests.storm_app:wsgi_app --worker-class gthread --threads 4 --workers 4
    python -m gunicorn tests.storm_app:flask_app --worker-class gthread --threads 4 --workers 4

Built on the first request, in each worker, from the ``REDTRUST_*`` variables (the pool size
from ``REDTRUST_REDIS_MAX_CONNECTIONS`` when set).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from examples._shared import FromEnvironment
from examples.flask_app import create_app as create_flask_app
from examples.starlette_app import create_app
from examples.wsgi_app import create_app as create_wsgi_app
from flask import Flask

from redtrust_middleware import (
    AsyncSessionManager,
    RedtrustConfig,
    RedtrustWSGIMiddleware,
    SessionManager,
    StoreError,
)
from redtrust_middleware.asgi import ASGIApp
from redtrust_middleware.stores import MemoryStore, RedisStore


class ReportingRedisStore(RedisStore):
    """A RedisStore that also prints why each operation failed (the app logs only the type),
    so that a failed storm says which timeout or bound was reached."""

    @contextlib.contextmanager
    def _failures(self, operation: str) -> Iterator[None]:
        try:
            with super()._failures(operation):
                yield
        except StoreError as error:
            sys.stderr.write(f"storm_app: {error}\n")
            raise


def build() -> ASGIApp:
    """The example app whose sessions live in the Redis at ``REDTRUST_REDIS_URL``."""
    config = RedtrustConfig.from_env()
    shared = bool(os.environ.get("REDTRUST_REDIS_URL"))
    store = ReportingRedisStore.from_env() if shared else MemoryStore()
    manager = AsyncSessionManager(config, store=store)
    return create_app(config, manager=manager)


def _sync_manager(config: RedtrustConfig) -> SessionManager:
    shared = bool(os.environ.get("REDTRUST_REDIS_URL"))
    store = ReportingRedisStore.from_env() if shared else MemoryStore()
    return SessionManager(config, store=store)


def build_wsgi() -> RedtrustWSGIMiddleware:
    """The bare WSGI example whose sessions live in the Redis at ``REDTRUST_REDIS_URL``."""
    config = RedtrustConfig.from_env()
    return create_wsgi_app(config, manager=_sync_manager(config))


def build_flask() -> Flask:
    """The Flask example whose sessions live in the Redis at ``REDTRUST_REDIS_URL``."""
    config = RedtrustConfig.from_env()
    return create_flask_app(config, manager=_sync_manager(config))


app = FromEnvironment(build)
_WSGI_APPS = {"wsgi_app": build_wsgi, "flask_app": build_flask}


def __getattr__(name: str) -> object:
    """``wsgi_app`` or ``flask_app``, built when gunicorn loads it in each worker (after the
    fork: no Redis connection is shared between processes)."""
    if name not in _WSGI_APPS:
        raise AttributeError(name)
    built = globals()[name] = _WSGI_APPS[name]()
    return built
