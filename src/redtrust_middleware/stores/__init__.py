"""Session stores: the protocol, the in-memory default, Redis, and sealing of records at rest.

``RedisStore`` is imported on first use (``from redtrust_middleware.stores import RedisStore``)
so that the package works without the optional ``redis`` dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import NOT_LOCAL, AsyncStore, LocalEntries, LocalEntry, LocalReads, LocalValue, Store
from .memory import MemoryStore
from .sealing import Keyring, derive_keys

if TYPE_CHECKING:
    from .redis import RedisStore as RedisStore

# RedisStore is left out of __all__: a star import must not require the redis extra.
__all__ = [
    "NOT_LOCAL",
    "AsyncStore",
    "Keyring",
    "LocalEntries",
    "LocalEntry",
    "LocalReads",
    "LocalValue",
    "MemoryStore",
    "Store",
    "derive_keys",
]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
