"""The core's hooks (on_login, on_refresh, on_logout) through both drivers."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from redtrust_middleware import (
    ConfigurationError,
    Hooks,
    LoginEvent,
    LogoutEvent,
    LogoutReason,
    MemoryStore,
    RefreshEvent,
    SessionManager,
    StoreError,
)
from redtrust_middleware.hooks import Event

from .conftest import FlakyStore, World, make_world

pytestmark = pytest.mark.anyio


class Heard:
    """Every event told, as plain hooks (``kind`` async: as ``async def`` hooks)."""

    def __init__(self, asynchronous: bool = False) -> None:
        self.events: list[Event] = []
        self.threads: list[int] = []

        def hear(event: Event) -> None:
            self.threads.append(threading.get_ident())
            self.events.append(event)

        async def ahear(event: Event) -> None:
            hear(event)

        chosen: Any = ahear if asynchronous else hear
        self.hooks = Hooks(on_login=chosen, on_refresh=chosen, on_logout=chosen)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def heard_world(kind: str, **options: Any) -> tuple[World, Heard]:
    heard = Heard()
    return make_world(kind, hooks=heard.hooks, **options), heard


async def test_a_sign_in_is_told_once_with_the_user(kind: str) -> None:
    world, heard = heard_world(kind)
    await world.sign_in()
    (login,) = heard.events
    assert isinstance(login, LoginEvent)
    assert login.subject == "demo"
    assert login.claims["sub"] == "demo"
    assert login.created_at == world.clock()


async def test_a_sign_in_whose_session_was_not_written_is_not_told(kind: str) -> None:
    world, heard = heard_world(kind)
    start, query = await world.start_and_authenticate()
    world.store.fail_writes_to = ":session:"
    with pytest.raises(StoreError):
        await world.driver.complete_login(query=query, browser_nonces=start.browser_nonces)
    assert heard.events == []


async def test_a_refresh_storm_is_told_once(kind: str) -> None:
    world, heard = heard_world(kind)
    handle = await world.sign_in()
    world.clock.advance(310)  # expired: every request needs the refresh
    world.sandbox.latency = 0.05
    results = await world.driver.concurrently(30, lambda: world.driver.get(handle))
    assert world.sandbox.calls["refresh"] == 1
    (refresh,) = heard.of(RefreshEvent)
    assert refresh.subject == "demo"
    # Every request has the one new token, whether it waited for the refresh or (a thread
    # the scheduler started late) read the record it saved; `refreshed` tells those apart,
    # so it is not asserted here.
    assert {r.tokens.access_token for r in results if r is not None} == {
        refresh.tokens.access_token
    }
    assert None not in results


async def test_a_refresh_saved_by_a_later_request_is_told_once(kind: str) -> None:
    world, heard = heard_world(kind)
    handle = await world.sign_in()
    world.clock.advance(290)
    world.store.fail_writes_to = ":session:"
    assert await world.driver.get(handle) is not None  # refreshed; not saved
    world.store.fail_writes_to = None
    assert await world.driver.get(handle) is not None  # saves it from the grace record
    assert len(heard.of(RefreshEvent)) == 1


async def test_a_rejected_refresh_is_told_as_a_logout(kind: str) -> None:
    world, heard = heard_world(kind)
    handle = await world.sign_in()
    world.sandbox.revoke("demo")
    world.clock.advance(290)
    assert await world.driver.get(handle) is None
    (logout,) = heard.of(LogoutEvent)
    assert logout.reason is LogoutReason.REFRESH_REJECTED
    assert logout.subject == "demo"
    assert await world.driver.get(handle) is None  # the record is gone: told as expired
    assert [e.reason for e in heard.of(LogoutEvent)] == ["refresh_rejected", "expired"]


async def test_a_transient_refresh_failure_tells_nothing(kind: str) -> None:
    world, heard = heard_world(kind)
    handle = await world.sign_in()
    world.clock.advance(290)
    world.sandbox.fail_next(1, 503, endpoint="refresh")
    assert await world.driver.get(handle) is not None  # served its still-valid token
    assert heard.of(LogoutEvent) == heard.of(RefreshEvent) == []


async def test_signing_out_is_told(kind: str) -> None:
    world, heard = heard_world(kind)
    handle = await world.sign_in()
    assert await world.driver.logout(handle)
    assert not await world.driver.logout(handle)  # nothing left: nothing told
    (logout,) = heard.of(LogoutEvent)
    assert logout == LogoutEvent(reason=LogoutReason.SIGNED_OUT, subject="demo")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_timeouts_are_told_with_the_user_while_the_record_is_readable(kind: str) -> None:
    # A store that never drops records (its own frozen clock): the flows see them dead.
    world, heard = heard_world(
        kind, store=FlakyStore(MemoryStore(clock=lambda: 0.0)), idle_timeout=600
    )
    handle = await world.sign_in()
    world.clock.advance(601)
    assert await world.driver.get(handle) is None
    (idle,) = heard.of(LogoutEvent)
    assert (idle.reason, idle.subject) == (LogoutReason.IDLE_TIMEOUT, "demo")
    world, heard = heard_world(
        kind,
        store=FlakyStore(MemoryStore(clock=lambda: 0.0)),
        idle_timeout=600,
        absolute_timeout=3600,
    )
    handle = await world.sign_in()
    for _ in range(8):  # active every 500 s: the absolute limit (3600 s) trips
        world.clock.advance(500)
        await world.driver.get(handle)
    assert heard.of(LogoutEvent)[-1].reason is LogoutReason.ABSOLUTE_TIMEOUT


async def test_a_session_gone_from_the_store_is_told_as_expired(kind: str) -> None:
    world, heard = heard_world(kind, idle_timeout=600)
    handle = await world.sign_in()
    world.clock.advance(601)  # the store dropped the record at its timeout
    assert await world.driver.get(handle) is None
    assert heard.of(LogoutEvent) == [LogoutEvent(reason=LogoutReason.EXPIRED)]


async def test_a_failing_hook_is_logged_without_secrets_and_changes_nothing(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    def explode(event: Event) -> None:
        seen.append(event)
        raise RuntimeError(f"boom {event.tokens.access_token}")  # type: ignore[union-attr]

    world = make_world(kind, hooks=Hooks(on_login=explode, on_refresh=explode))
    with caplog.at_level(logging.ERROR, logger="redtrust_middleware.hooks"):
        handle = await world.sign_in()
        world.clock.advance(290)
        session = await world.driver.get(handle)
    assert session is not None
    assert session.refreshed  # signed in, then refreshed
    assert len(seen) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "on_login hook" in lines[0]
    assert "explode" in lines[0]
    assert "RuntimeError" in lines[0]
    for event in seen:
        tokens = event.tokens  # type: ignore[union-attr]
        for secret in (tokens.access_token, str(tokens.refresh_token)):
            assert secret not in " ".join(lines)
            assert secret not in repr(event)
    assert await world.driver.get(handle) is not None


async def test_async_hooks_are_awaited_and_plain_ones_run_in_a_worker_thread() -> None:
    awaited = Heard(asynchronous=True)
    world = make_world("async", hooks=awaited.hooks)
    await world.sign_in()
    assert awaited.threads == [threading.get_ident()]  # on the loop: awaited
    plain = Heard()
    world = make_world("async", hooks=plain.hooks)
    await world.sign_in()
    assert len(plain.events) == 1
    assert plain.threads != [threading.get_ident()]  # a worker thread: never blocks the loop


def test_a_sync_driver_refuses_async_hooks_naming_the_fix() -> None:
    async def on_login(event: Event) -> None: ...

    world = make_world("sync")
    manager = world.driver.manager
    assert isinstance(manager, SessionManager)
    with pytest.raises(ConfigurationError) as caught:
        manager.with_hooks(Hooks(on_login=on_login))
    message = str(caught.value)
    assert "hooks.on_login" in message
    assert "plain def" in message
    with pytest.raises(ConfigurationError, match="must be a function"):
        Hooks(on_logout="myapp.hooks.on_logout")  # type: ignore[arg-type]
