"""The store operations on a Django cache: where the records shared between requests and
processes live (refresh locks, grace records). Django caches have no compare-and-set:
``take`` counts on ``delete`` reporting whether it deleted (atomic on Redis, Memcached and
local memory)."""

from __future__ import annotations

from typing import Any

from django.core.cache import BaseCache

__all__ = ["acache_op", "cache_op", "cache_timeout"]


def cache_timeout(ttl: float) -> int:
    return max(1, round(ttl + 0.499))  # Django caches count whole seconds: never round to 0


def cache_op(cache: BaseCache, op: str, key: str, value: Any, expected: Any, ttl: float) -> Any:
    """A store operation on a Django cache. Caches have no compare-and-set: ``take`` counts on
    ``delete`` reporting whether it deleted (atomic on Redis, Memcached and local memory)."""
    if op == "get":
        return cache.get(key)
    if op == "set":
        return cache.set(key, value, timeout=cache_timeout(ttl))
    if op == "add":
        return cache.add(key, value, timeout=cache_timeout(ttl))
    if op == "take":
        current = cache.get(key)
        return current if current is not None and cache.delete(key) else None
    if op == "delete":
        return cache.delete(key)
    if op == "delete_if":
        return cache.get(key) == expected and cache.delete(key)
    if op == "replace_if":
        if cache.get(key) != expected:
            return False
        if value == expected:  # a lease renewal: extend without rewriting
            return cache.touch(key, timeout=cache_timeout(ttl))
        cache.set(key, value, timeout=cache_timeout(ttl))
        return True
    raise ValueError(op)  # pragma: no cover


async def acache_op(
    cache: BaseCache, op: str, key: str, value: Any, expected: Any, ttl: float
) -> Any:
    if op == "get":
        return await cache.aget(key)
    if op == "set":
        return await cache.aset(key, value, timeout=cache_timeout(ttl))
    if op == "add":
        return await cache.aadd(key, value, timeout=cache_timeout(ttl))
    if op == "take":
        current = await cache.aget(key)
        return current if current is not None and await cache.adelete(key) else None
    if op == "delete":
        return await cache.adelete(key)
    if op == "delete_if":
        return await cache.aget(key) == expected and await cache.adelete(key)
    if op == "replace_if":
        if await cache.aget(key) != expected:
            return False
        if value == expected:
            return await cache.atouch(key, timeout=cache_timeout(ttl))
        await cache.aset(key, value, timeout=cache_timeout(ttl))
        return True
    raise ValueError(op)  # pragma: no cover
