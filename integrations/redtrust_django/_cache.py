"""The store operations on a Django cache: where the records shared between requests and
processes live (refresh locks, grace records). Django caches have no compare-and-set:
``take`` counts on ``delete`` reporting whether it deleted (atomic on Redis, Memcached and
local memory)."""

from __future__ import annotations

from django.core.cache import BaseCache

from redtrust_middleware.stores.operations import (
    Add,
    Delete,
    DeleteIf,
    Get,
    Put,
    ReplaceIf,
    Result,
    StoreOperation,
    Take,
)

__all__ = ["acache_op", "cache_op", "cache_timeout"]


def cache_timeout(ttl: float) -> int:
    return max(1, round(ttl + 0.499))  # Django caches count whole seconds: never round to 0


def cache_op(cache: BaseCache, op: StoreOperation) -> Result:
    """A store operation on a Django cache."""
    match op:
        case Get(key):
            found: bytes | None = cache.get(key)
            return found
        case Put(key, value, ttl):
            cache.set(key, value, timeout=cache_timeout(ttl))
            return None
        case Add(key, value, ttl):
            return cache.add(key, value, timeout=cache_timeout(ttl))
        case Take(key):
            current: bytes | None = cache.get(key)
            return current if current is not None and cache.delete(key) else None
        case Delete(key):
            cache.delete(key)
            return None
        case DeleteIf(key, value):
            return cache.get(key) == value and cache.delete(key)
        case ReplaceIf(key, expected, value, ttl):
            if cache.get(key) != expected:
                return False
            if value == expected:  # a lease renewal: extend without rewriting
                return cache.touch(key, timeout=cache_timeout(ttl))
            cache.set(key, value, timeout=cache_timeout(ttl))
            return True


async def acache_op(cache: BaseCache, op: StoreOperation) -> Result:
    """:func:`cache_op` on the cache's async methods."""
    match op:
        case Get(key):
            found: bytes | None = await cache.aget(key)
            return found
        case Put(key, value, ttl):
            await cache.aset(key, value, timeout=cache_timeout(ttl))
            return None
        case Add(key, value, ttl):
            return await cache.aadd(key, value, timeout=cache_timeout(ttl))
        case Take(key):
            current: bytes | None = await cache.aget(key)
            return current if current is not None and await cache.adelete(key) else None
        case Delete(key):
            await cache.adelete(key)
            return None
        case DeleteIf(key, value):
            return await cache.aget(key) == value and await cache.adelete(key)
        case ReplaceIf(key, expected, value, ttl):
            if await cache.aget(key) != expected:
                return False
            if value == expected:
                return await cache.atouch(key, timeout=cache_timeout(ttl))
            await cache.aset(key, value, timeout=cache_timeout(ttl))
            return True
