"""The store's Redis: reachable, recent enough, not evicting, and answering its commands."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from ..exceptions import StoreError
from ._report import Finding

__all__ = ["REDIS_MIN_VERSION", "REDIS_URL_ENV", "check_redis"]

#: ``GETDEL`` (the store's atomic take) came with Redis 6.2.
REDIS_MIN_VERSION = (6, 2)
#: What ``RedisStore.from_env`` reads (named here too: the redis package is optional).
REDIS_URL_ENV = "REDTRUST_REDIS_URL"


def check_redis(url: str, *, prefix: str = "") -> list[Finding]:
    """PING, the version, the eviction policy, and a probe key written, read and deleted
    with the store's own commands."""
    try:
        import redis

        from ..stores.redis import RedisStore
    except ImportError:
        return [
            Finding(
                check="redis",
                status="fail",
                message="the redis package is not installed",
                fix='pip install "redtrust-middleware[redis]"',
            )
        ]
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else "the Redis URL"
    try:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    except ValueError:
        return [Finding(check="redis", status="fail", message="the Redis URL is not valid")]
    try:
        with client:
            client.ping()
            server = client.info("server")
            memory = client.info("memory")
            found = _redis_version(str(server.get("redis_version", "0")), where)
            found += _redis_policy(str(memory.get("maxmemory_policy", "")))
            store = RedisStore(client=client, prefix=prefix)
            key = f"redtrust:doctor:{secrets.token_hex(8)}"
            value = secrets.token_bytes(16)
            store.set(key, value, ttl=30)
            read = store.get(key)
            deleted = store.delete_if(key, value)  # a Lua script, as the lock release
            if read != value or not deleted or store.get(key) is not None:
                found.append(
                    Finding(
                        check="redis",
                        status="fail",
                        message="a probe key did not read back as written",
                        fix="check that no proxy or replica sits between the app and Redis",
                    )
                )
            else:
                found.append(
                    Finding(
                        check="redis",
                        status="ok",
                        message=f"{where}: a probe key written, read and deleted",
                    )
                )
            return found
    except redis.exceptions.AuthenticationError:
        cause, fix = "refused the password", "put the right password in the Redis URL"
    except redis.exceptions.ConnectionError as error:
        cause, fix = f"cannot be reached ({type(error).__name__})", "check the Redis URL's host"
    except redis.exceptions.ResponseError as error:
        cause = f"answered an error ({str(error).split(' ', 1)[0]})"
        fix = "allow the commands GET, SET, GETDEL, DEL and EVALSHA for this user"
    except (redis.exceptions.RedisError, StoreError, OSError) as error:
        cause, fix = f"failed ({type(error).__name__})", "check the Redis URL"
    return [Finding(check="redis", status="fail", message=f"Redis at {where} {cause}", fix=fix)]


def _redis_version(text: str, where: str) -> list[Finding]:
    try:
        version = tuple(int(part) for part in text.split(".")[:2])
    except ValueError:
        version = (0, 0)
    need = ".".join(map(str, REDIS_MIN_VERSION))
    if version < REDIS_MIN_VERSION:
        return [
            Finding(
                check="redis",
                status="fail",
                message=f"Redis at {where} is version {text}: the store needs {need} or "
                "later (GETDEL)",
                fix=f"upgrade Redis to {need} or later (or Valkey)",
            )
        ]
    return [Finding(check="redis", status="ok", message=f"Redis {text} (needs {need} or later)")]


def _redis_policy(policy: str) -> list[Finding]:
    if policy.startswith("allkeys-"):
        return [
            Finding(
                check="redis",
                status="warn",
                message=f"maxmemory-policy is {policy}: Redis may evict signed-in sessions "
                "and refresh locks under memory pressure",
                fix="set maxmemory-policy noeviction (or volatile-ttl on a shared Redis)",
            )
        ]
    return []
