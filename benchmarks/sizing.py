"""Sizing figures for docs/sizing.md, measured on a real ``redis-server``.

    python -m benchmarks.sizing [--requests N]

Signs a user in through the sandbox (real-size tokens) into the bare WSGI example on a
``RedisStore``, then prints: ``MEMORY USAGE`` of every key the session leaves in Redis after
the sign-in and after a refresh (by kind: the part of the key name before its first ``:``),
and Redis commands per sign-in, per signed-in request with a fresh token, per refresh and per
sign-out (``INFO commandstats`` before and after each step).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx2
import redis
from examples.wsgi_app import create_app

from redtrust_middleware import Client, SessionManager
from redtrust_middleware.stores import RedisStore
from redtrust_middleware.testing import (
    TEST_APP_URL,
    FakeClock,
    RedisServer,
    make_config,
    make_sandbox,
    sign_in,
    sign_out,
)

__all__ = ["Sizing", "measure"]


@dataclass(frozen=True)
class Sizing:
    """What one session costs Redis: bytes by key kind, commands by step."""

    #: MEMORY USAGE in bytes of each key present after the sign-in, by kind.
    after_sign_in: dict[str, int] = field(default_factory=dict)
    #: The same after one refresh (the old token's grace and spent keys included).
    after_refresh: dict[str, int] = field(default_factory=dict)
    #: The largest MEMORY USAGE of each kind of key, measured as it was written.
    written: dict[str, int] = field(default_factory=dict)
    #: Redis commands (name: count) of one step, by step.
    commands: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Signed-in requests measured for ``commands["request"]`` (the figure is per request).
    requests: int = 0


def _commands(control: redis.Redis) -> Counter[str]:
    stats = control.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


@contextmanager
def _counting(control: redis.Redis, into: dict[str, dict[str, int]], step: str) -> Iterator[None]:
    """Count the commands the block sends (minus the INFO that reads the counts)."""
    before = _commands(control)
    yield
    after = _commands(control)
    after["info"] -= 1
    after["memory|usage"] = before["memory|usage"]  # the measuring store's own reads
    into[step] = {name: n for name, n in (after - before).items() if n > 0}


def _kind(key: str) -> str:
    """``session`` of ``redtrust:session:<digest>``: what a key is for."""
    parts = key.split(":")
    return parts[1] if len(parts) > 2 else parts[0]


def _sizes(control: redis.Redis) -> dict[str, int]:
    sizes: Counter[str] = Counter()
    for key in control.scan_iter(count=1000):
        sizes[_kind(key.decode())] += int(control.memory_usage(key, samples=0) or 0)
    return dict(sizes)


class _WatchedStore(RedisStore):
    """A RedisStore that notes the MEMORY USAGE of each key right after writing it, so that
    keys that live for milliseconds (the refresh lock) are measured too."""

    def __init__(self, url: str, control: redis.Redis) -> None:
        super().__init__(url=url)
        self.control = control
        self.written: dict[str, int] = {}

    def _note(self, key: str) -> None:
        size = int(self.control.memory_usage(self._key(key), samples=0) or 0)
        kind = _kind(key)
        self.written[kind] = max(self.written.get(kind, 0), size)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        super().set(key, value, ttl=ttl)
        self._note(key)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        added = super().add(key, value, ttl=ttl)
        self._note(key)
        return added

    def replace_if(self, key: str, expected: bytes, value: bytes, *, ttl: float) -> bool:
        replaced = super().replace_if(key, expected, value, ttl=ttl)
        self._note(key)
        return replaced


def measure(requests: int = 200) -> Sizing:
    """Measure a session's keys and commands on a fresh ``redis-server``."""
    clock = FakeClock(time.time())
    # Due for refresh inside the default 60 s leeway once the clock moves 2 s (an idle
    # timeout or the session's age would end it if the clock jumped past an hour).
    sandbox = make_sandbox(clock=clock, access_token_ttl=600)
    config = make_config()
    commands: dict[str, dict[str, int]] = {}
    with RedisServer() as server, redis.Redis.from_url(server.url) as control:
        store = _WatchedStore(server.url, control)
        client = Client(config, transport=sandbox.transport(), clock=clock)
        manager = SessionManager(config, client=client, clock=clock, store=store)
        app = create_app(config, manager=manager)
        transport = httpx2.WSGITransport(app=app)
        with httpx2.Client(transport=transport, base_url=TEST_APP_URL) as browser:
            browser.get("/api/me")  # warm-up: connections, scripts loaded
            with _counting(control, commands, "sign-in"):
                sign_in(browser, sandbox)
            after_sign_in = _sizes(control)
            with _counting(control, commands, "request"):
                for _ in range(requests):
                    answer = browser.get("/api/me")
                    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
            clock.advance(600 - 30)
            with _counting(control, commands, "refresh"):
                answer = browser.get("/api/me")
                assert answer.status_code == 200, (answer.status_code, answer.text[:300])
            after_refresh = _sizes(control)
            with _counting(control, commands, "sign-out"):
                sign_out(browser)
        store.close()
    return Sizing(after_sign_in, after_refresh, store.written, commands, requests)


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    sizing = measure(parser.parse_args().requests)
    print(json.dumps(sizing.__dict__, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
