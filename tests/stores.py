"""Test stores side by side: a MemoryStore on a fake clock, a RedisStore on a real server.

Both come in a :class:`StoreHarness` whose ``elapse`` lets time pass for the store: the fake
clock moves for memory, and for Redis every key's remaining TTL is shortened (keys whose TTL
runs out are deleted), which is what the server would do if the time really passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.stores.redis import RedisStore

__all__ = ["StoreHarness", "redis_dump", "shift_ttls"]


@dataclass
class StoreHarness:
    kind: str
    store: MemoryStore | RedisStore
    elapse: Callable[[float], None]


def shift_ttls(
    client: redis.Redis | redis.RedisCluster, seconds: float, *, match: str = "*"
) -> None:
    """Shorten every matching key's TTL by ``seconds``, deleting those that run out."""
    shift = round(seconds * 1000)
    for key in client.scan_iter(match=match):
        left = client.pttl(key)
        if left < 0:  # no TTL (never written by a store) or already gone
            continue
        if left <= shift:
            client.delete(key)
        else:
            client.pexpire(key, left - shift)


def redis_dump(url: str) -> dict[bytes, bytes]:
    """Every key and value in the Redis at ``url`` (SCAN + GET), as a dump would show them."""
    with redis.Redis.from_url(url) as client:
        dump: dict[bytes, bytes] = {}
        for key in client.scan_iter():
            value = client.get(key)
            if value is not None:
                dump[key] = value
        return dump
