"""The Starlette example on a shared Redis store, for the multi-process storm test and the
fault tests (on a MemoryStore when ``REDTRUST_REDIS_URL`` is not set: one worker only).

    REDTRUST_REDIS_URL=redis://... REDTRUST_*=... \
    python -m uvicorn tests.storm_app:app --workers 4

Built on the first request, in each worker, from the ``REDTRUST_*`` variables.
"""

from __future__ import annotations

import os

from examples._shared import FromEnvironment
from examples.starlette_app import create_app

from redtrust_middleware import AsyncSessionManager, RedtrustConfig
from redtrust_middleware.asgi import ASGIApp
from redtrust_middleware.stores import MemoryStore, RedisStore


def build() -> ASGIApp:
    """The example app whose sessions live in the Redis at ``REDTRUST_REDIS_URL``."""
    config = RedtrustConfig.from_env()
    store = RedisStore.from_env() if os.environ.get("REDTRUST_REDIS_URL") else MemoryStore()
    manager = AsyncSessionManager(config, store=store)
    return create_app(config, manager=manager)


app = FromEnvironment(build)
