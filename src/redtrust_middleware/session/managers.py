"""The drivers: :class:`SessionManager` and :class:`AsyncSessionManager`.

Both hold a :class:`~.flows.SessionFlows` and perform its effects, one with a sync store and
client, the other with async ones; they differ only there. Each also holds the in-process
lock that makes a refresh single-flight, and renews the store lock's lease while a refresh
call runs. The async one runs each refresh as a task the manager owns, so a cancelled
request cannot abandon a refresh halfway.

Both serve most signed-in requests from the store's local read when it has one
(:meth:`SessionManager.get_local`, shared: no I/O and, in the async one, no coroutine), and
fall back to the flows for anything else.

Both run the app's :class:`~redtrust_middleware.hooks.Hooks`: a flow's :class:`Notify`
effects are collected while it runs and told once it is over, with its locks released (in
the async one, inside the refresh task: a waiter that joined it tells nothing).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import anyio

import redtrust_middleware.telemetry as telemetry

from .._clock import Clock, system_clock
from .._locks import AsyncKeyedLocks, KeyedLocks
from ..client import AsyncClient, Client
from ..config import RedtrustConfig
from ..exceptions import RefreshFailedError, StoreError
from ..hooks import NO_HOOKS, Event, Hooks, LogoutEvent, adeliver, deliver
from ..logevents import log
from ..stores import AsyncStore, Keyring, LocalEntry, MemoryStore, Store
from ..stores.operations import StoreOp, aperform, perform
from ..tokens import TokenSet
from .effects import (
    Effect,
    Exchange,
    Flow,
    Lease,
    Logout,
    Notify,
    Refresh,
    Sleep,
    adrive,
    drive,
)
from .flows import LocalRead, SessionFlows, Touch
from .records import ActiveSession, LoginDone, LoginStart, session_tag
from .refresh import RefreshNeeded, classify_refresh_failure

__all__ = ["AsyncSessionManager", "SessionManager"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _keyring(config: RedtrustConfig, keyring: Keyring | None) -> Keyring:
    if keyring is not None:
        return keyring
    if config.encryption_keys:
        return Keyring(config.encryption_keys)
    log(
        logger,
        "redtrust.config.ephemeral_keys",
        "redtrust: no encryption_keys set; sessions end when the process restarts",
    )
    return Keyring.ephemeral()


def _tag(handle: str | None) -> str | None:
    return None if handle is None else session_tag(handle)


def _count_ended(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, LogoutEvent):
            telemetry.count_ended(event.reason)


def _sync_hooks(hooks: Hooks | None) -> Hooks:
    if hooks is None:
        return NO_HOOKS
    hooks.require_sync("SessionManager")
    return hooks


def _local_reads(store: object) -> LocalRead | None:
    """The store's :meth:`~redtrust_middleware.stores.LocalReads.read_local`, or None."""
    read = getattr(store, "read_local", None)  # cheaper than the protocol's isinstance
    return cast("LocalRead", read) if callable(read) else None


def _local_entries(store: object, clock: Clock) -> Callable[[str], LocalEntry | None] | None:
    """The reader of the store's entries
    (:meth:`~redtrust_middleware.stores.LocalEntries.local_entries`) when their deadlines are
    on ``clock`` (the flows'), so one comparison decides both; else None."""
    entries = getattr(store, "local_entries", None)
    if not callable(entries) or getattr(store, "clock", None) is not clock:
        return None
    return cast("Callable[[str], LocalEntry | None] | None", entries())


class _LocalServing:
    """What both drivers share to serve a request from this process alone."""

    flows: SessionFlows
    #: The store's :meth:`~redtrust_middleware.stores.LocalReads.read_local`, or None when
    #: it has none (kept by each driver's ``store`` setter).
    local_read: LocalRead | None
    #: The reader of the store's entries
    #: (:meth:`~redtrust_middleware.stores.LocalEntries.local_entries`) when they are on the
    #: flows' clock, else None (kept as ``local_read``): what
    #: :meth:`~redtrust_middleware.web.Gate.served` checks.
    local_entry: Callable[[str], LocalEntry | None] | None

    def get_local(self, handle: str) -> ActiveSession | None:
        """The signed-in session when this process alone can serve it, else None (then call
        ``get``): the store answered the read locally
        (:class:`~redtrust_middleware.stores.LocalReads`), its record was opened before, and
        no refresh or idle-time touch is due. No I/O, no write, no hook, no coroutine.

        Never on a sampled request: its read must get its store span, so it takes ``get``.
        """
        read = self.local_read
        if read is None or telemetry.recording():
            return None
        return self.flows.fresh_local(handle, read)


class SessionManager(_LocalServing):
    """Synchronous driver of :class:`SessionFlows` (WSGI, Django under WSGI, scripts).

    One per application: it owns the store, the client and the in-process refresh locks.
    """

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        store: Store | None = None,
        client: Client | None = None,
        keyring: Keyring | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        hooks: Hooks | None = None,
    ) -> None:
        self.hooks = _sync_hooks(hooks)
        self.config = config
        # The flows first: the store setter asks whether the store's clock is theirs.
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self.store = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else Client(config, clock=clock)
        self._locks = KeyedLocks()
        self._sleep = sleep

    @property
    def store(self) -> Store:
        """Where the sessions live."""
        return self._store

    @store.setter
    def store(self, store: Store) -> None:
        self._store = store
        self.local_read = _local_reads(store)
        self.local_entry = _local_entries(store, self.flows.clock)

    def using(self, store: Store) -> SessionManager:
        """This manager over another store, sharing its flows, client and locks: for faces
        whose browser records live in a per-request store, such as a framework's session.

        Called on every request: a shallow clone by hand (``copy.copy`` costs microseconds)."""
        state = self.__dict__.copy()
        # What the ``store`` setter sets (the property is on the class, not in the dict).
        state["_store"], state["local_read"] = store, _local_reads(store)
        state["local_entry"] = _local_entries(store, self.flows.clock)
        bound = object.__new__(type(self))
        bound.__dict__ = state
        return bound

    def with_hooks(self, hooks: Hooks) -> SessionManager:
        """This manager telling ``hooks`` instead, sharing everything else.

        Raises:
            ConfigurationError: a hook is an ``async def`` (this driver cannot run it).
        """
        bound = copy.copy(self)
        bound.hooks = _sync_hooks(hooks)
        return bound

    def _perform(self, effect: Effect) -> Any:
        match effect:
            case StoreOp():
                name = telemetry.store_operation(effect)
                try:
                    if telemetry.recording():
                        with telemetry.store_span(name, self.store):
                            return perform(self.store, effect)
                    return perform(self.store, effect)
                except StoreError:
                    telemetry.store_failed(name)
                    raise
            case Exchange(temp_token):
                return self.client.exchange(temp_token)
            case Refresh(tokens, Lease() as lease):
                return self._refresh_keeping_lease(tokens, lease)
            case Refresh(tokens):
                return self.client.refresh(tokens)
            case Logout(tokens):
                return self.client.logout(tokens)
            case Sleep(seconds):
                return self._sleep(seconds)

    def _run(self, flow: Flow[T]) -> T:
        events: list[Event] = []
        try:
            return self._drive(flow, events)
        finally:
            self._tell(events)

    def _drive(
        self, flow: Flow[T], events: list[Event], watch: telemetry.RefreshWatch | None = None
    ) -> T:
        """Run ``flow``, keeping its news in ``events`` for :meth:`_tell` (and its refresh
        call timed by ``watch``)."""

        def perform(effect: Effect) -> Any:
            if isinstance(effect, Notify):
                events.append(effect.event)
                return None
            if watch is not None and isinstance(effect, Refresh):
                return watch.call(self._perform, effect)
            return self._perform(effect)

        return drive(flow, perform)

    def _tell(self, events: list[Event]) -> None:
        _count_ended(events)
        if events and self.hooks:
            deliver(self.hooks, events)

    def begin_login(
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
    ) -> LoginStart:
        """Start a login: see :meth:`SessionFlows.begin_login`."""
        with telemetry.login_start():
            return self._run(
                self.flows.begin_login(
                    next_url=next_url, callback_url=callback_url, browser_nonces=browser_nonces
                )
            )

    def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> LoginDone:
        """Complete a login from its callback: see :meth:`SessionFlows.complete_login`."""
        with telemetry.login_callback() as span:
            done = self._run(
                self.flows.complete_login(
                    query=query, browser_nonces=browser_nonces, previous_handle=previous_handle
                )
            )
            span.session(session_tag(done.handle))
            return done

    def get(self, handle: str | None) -> ActiveSession | None:
        """The signed-in session with a fresh token, or None (refreshing single-flight).

        One store read when no refresh is due (none when :meth:`get_local` serves it), and
        no write (but a rare idle-time touch).
        """
        if handle:
            served = self.get_local(handle)
            if served is not None:
                return served
        key = self.flows.key_for(handle)
        if key is None or handle is None:
            return None
        try:
            if telemetry.recording():  # a sampled request: the read gets its span
                with telemetry.store_span("get", self.store):
                    blob = self.store.get(key)
            else:
                blob = self.store.get(key)
        except StoreError:
            telemetry.store_failed("get")
            raise
        loaded = self.flows.loaded(handle, key, blob, serve_again=self.local_read is not None)
        if loaded is None:
            ended = self.flows.why_ended(handle, key, blob)  # logged, hooks or not
            self._tell([ended] if self.hooks.on_logout or telemetry.AVAILABLE else [])
            return None
        if isinstance(loaded, Touch):
            return self._run(self.flows.touch(loaded))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        # A thread refreshing this session (the call may take `refresh_timeout`): wait for
        # it at most `timeout` while our token is still valid, then serve that token.
        meanwhile = self.flows.serve_meanwhile(loaded) is not None
        wait = self.config.timeout if meanwhile else self.flows.lock_lease + 5
        events: list[Event] = []
        try:
            with telemetry.RefreshWatch(session_tag(handle), classify_refresh_failure) as watch:
                try:
                    with self._locks.hold(loaded.key, timeout=wait):
                        try:
                            flow = self.flows.refresh(loaded)
                            return watch.result(self._drive(flow, events, watch))
                        finally:
                            if watch.called:  # the threads queued on this lock meanwhile
                                telemetry.record_waiters(self._locks.waiting(loaded.key))
                except TimeoutError:
                    if (current := self.flows.serve_meanwhile(loaded)) is not None:
                        return watch.result(current)
                    raise RefreshFailedError("the session is being refreshed; try again") from None
        finally:
            self._tell(events)  # the lock released: waiters are not held up by a hook

    def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        with telemetry.logout(_tag(handle)) as span:
            found = self._run(self.flows.logout(handle))
            span.set("redtrust.logout.found", found)
            return found

    def _refresh_keeping_lease(self, tokens: TokenSet, lease: Lease) -> TokenSet:
        """Refresh while a helper thread renews the store lock's lease (never lets it lapse)."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.seconds / 3):
                try:
                    self.store.replace_if(lease.key, lease.owner, lease.owner, ttl=lease.seconds)
                except StoreError as error:
                    _lease_not_renewed(error)

        renewer = threading.Thread(target=renew, name="redtrust-lease", daemon=True)
        renewer.start()
        try:
            return self.client.refresh(tokens)
        finally:
            done.set()
            renewer.join()

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()


class AsyncSessionManager(_LocalServing):
    """Asynchronous driver of :class:`SessionFlows` (ASGI, Starlette, FastAPI, Django async)."""

    def __init__(
        self,
        config: RedtrustConfig,
        *,
        store: AsyncStore | None = None,
        client: AsyncClient | None = None,
        keyring: Keyring | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        hooks: Hooks | None = None,
    ) -> None:
        self.hooks = hooks if hooks is not None else NO_HOOKS
        self.config = config
        # The flows first: the store setter asks whether the store's clock is theirs.
        self.flows = SessionFlows(config, _keyring(config, keyring), clock)
        self.store = store if store is not None else MemoryStore(clock=clock)
        self.client = client if client is not None else AsyncClient(config, clock=clock)
        self._locks = AsyncKeyedLocks()
        self._inflight: dict[tuple[str, int], asyncio.Task[ActiveSession | None]] = {}
        # session key -> the first refresh task in flight for it, over whichever store
        self._refreshing: dict[str, asyncio.Task[ActiveSession | None]] = {}
        # (session key, store) -> requests that joined its refresh task (for telemetry)
        self._joiners: dict[tuple[str, int], int] = {}
        self._lasting_store = True  # False for per-request stores (`using`)
        self._sleep = sleep

    @property
    def store(self) -> AsyncStore:
        """Where the sessions live."""
        return self._store

    @store.setter
    def store(self, store: AsyncStore) -> None:
        self._store = store
        self.local_read = _local_reads(store)
        self.local_entry = _local_entries(store, self.flows.clock)

    def using(self, store: AsyncStore) -> AsyncSessionManager:
        """This manager over another store, sharing its flows, client, locks and refresh
        tasks: for faces whose browser records live in a per-request store.

        Called on every request: a shallow clone by hand (``copy.copy`` costs microseconds)."""
        state = self.__dict__.copy()
        # What the ``store`` setter sets (the property is on the class, not in the dict).
        state["_store"], state["local_read"] = store, _local_reads(store)
        state["local_entry"] = _local_entries(store, self.flows.clock)
        state["_lasting_store"] = False
        bound = object.__new__(type(self))
        bound.__dict__ = state
        return bound

    def with_hooks(self, hooks: Hooks) -> AsyncSessionManager:
        """This manager telling ``hooks`` instead, sharing everything else."""
        bound = copy.copy(self)
        bound.hooks = hooks
        return bound

    async def _perform(self, effect: Effect) -> Any:
        match effect:
            case StoreOp():
                name = telemetry.store_operation(effect)
                try:
                    if telemetry.recording():
                        with telemetry.store_span(name, self.store):
                            return await aperform(self.store, effect)
                    return await aperform(self.store, effect)
                except StoreError:
                    telemetry.store_failed(name)
                    raise
            case Exchange(temp_token):
                return await self.client.exchange(temp_token)
            case Refresh(tokens, Lease() as lease):
                return await self._refresh_keeping_lease(tokens, lease)
            case Refresh(tokens):
                return await self.client.refresh(tokens)
            case Logout(tokens):
                return await self.client.logout(tokens)
            case Sleep(seconds):
                return await self._sleep(seconds)

    async def _run(self, flow: Flow[T]) -> T:
        events: list[Event] = []
        try:
            return await self._drive(flow, events)
        finally:
            await self._tell(events)

    async def _drive(
        self, flow: Flow[T], events: list[Event], watch: telemetry.RefreshWatch | None = None
    ) -> T:
        """Run ``flow``, keeping its news in ``events`` for :meth:`_tell` (and its refresh
        call timed by ``watch``)."""

        async def perform(effect: Effect) -> Any:
            if isinstance(effect, Notify):
                events.append(effect.event)
                return None
            if watch is not None and isinstance(effect, Refresh):
                return await watch.acall(self._perform, effect)
            return await self._perform(effect)

        return await adrive(flow, perform)

    async def _tell(self, events: list[Event]) -> None:
        _count_ended(events)
        if events and self.hooks:
            await adeliver(self.hooks, events)

    async def begin_login(
        self,
        *,
        next_url: str | None,
        callback_url: str | None = None,
        browser_nonces: Sequence[str] = (),
    ) -> LoginStart:
        """Start a login: see :meth:`SessionFlows.begin_login`."""
        with telemetry.login_start():
            return await self._run(
                self.flows.begin_login(
                    next_url=next_url, callback_url=callback_url, browser_nonces=browser_nonces
                )
            )

    async def complete_login(
        self,
        *,
        query: bytes | str,
        browser_nonces: Sequence[str],
        previous_handle: str | None = None,
    ) -> LoginDone:
        """Complete a login from its callback: see :meth:`SessionFlows.complete_login`."""
        with telemetry.login_callback() as span:
            done = await self._run(
                self.flows.complete_login(
                    query=query, browser_nonces=browser_nonces, previous_handle=previous_handle
                )
            )
            span.session(session_tag(done.handle))
            return done

    async def get(self, handle: str | None) -> ActiveSession | None:
        """The signed-in session with a fresh token, or None (refreshing single-flight).

        One store read when no refresh is due (none when :meth:`get_local` serves it), and
        no write (but a rare idle-time touch).
        """
        if handle:
            served = self.get_local(handle)
            if served is not None:
                return served
        key = self.flows.key_for(handle)
        if key is None or handle is None:
            return None
        try:
            if telemetry.recording():  # a sampled request: the read gets its span
                with telemetry.store_span("get", self.store):
                    blob = await self.store.aget(key)
            else:
                blob = await self.store.aget(key)
        except StoreError:
            telemetry.store_failed("get")
            raise
        loaded = self.flows.loaded(handle, key, blob, serve_again=self.local_read is not None)
        if loaded is None:
            ended = self.flows.why_ended(handle, key, blob)  # logged, hooks or not
            await self._tell([ended] if self.hooks.on_logout or telemetry.AVAILABLE else [])
            return None
        if isinstance(loaded, Touch):
            return await self._run(self.flows.touch(loaded))
        if not isinstance(loaded, RefreshNeeded):
            return loaded
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): shield the refresh from cancellation
            with anyio.CancelScope(shield=True):
                return await self._refresh_locked(loaded)
        # One refresh task per session and store, owned by the manager: requests wait for
        # it, and a request that is cancelled (the client hung up) cannot abandon it halfway,
        # with tokens rotated upstream but not saved and the store lock left to expire.
        # Requests over another store (a per-request one, see `using`) queue on the lock
        # instead and then find the result in the grace memo, saving it into their own.
        # The call may take `refresh_timeout`: a request whose token is still valid waits at
        # most `timeout` and is served that token meanwhile, unless it must save the result
        # into a per-request store (the request whose own task makes the call).
        meanwhile = self.flows.serve_meanwhile(loaded) is not None
        if meanwhile and not self._lasting_store:
            running = self._refreshing.get(loaded.key)  # another request's, saving its own
            served = None if running is None else await self._serve_meanwhile(running, loaded)
            if served is not None:
                tag = session_tag(handle)
                deferred = telemetry.RefreshOutcome.DEFERRED
                with telemetry.RefreshWatch(tag, classify_refresh_failure, outcome=deferred):
                    return served
        task, joined = self._refresh_task(loop, loaded)
        if not joined:  # the task's own span tells this refresh
            return await self._await_refresh(task, loaded, meanwhile)
        outcome = telemetry.RefreshOutcome.JOINED
        with telemetry.RefreshWatch(session_tag(handle), classify_refresh_failure, outcome=outcome):
            return await self._await_refresh(task, loaded, meanwhile)

    async def _await_refresh(
        self, task: asyncio.Task[ActiveSession | None], loaded: RefreshNeeded, meanwhile: bool
    ) -> ActiveSession | None:
        lasting = meanwhile and self._lasting_store
        served = await self._serve_meanwhile(task, loaded) if lasting else None
        return served if served is not None else await asyncio.shield(task)

    def _refresh_task(
        self, loop: asyncio.AbstractEventLoop, loaded: RefreshNeeded
    ) -> tuple[asyncio.Task[ActiveSession | None], bool]:
        """The refresh task of this session and store, and whether it was running already."""
        inflight = (loaded.key, id(self.store))
        task = self._inflight.get(inflight)
        if task is not None:
            self._joiners[inflight] = self._joiners.get(inflight, 0) + 1
            return task, True
        task = loop.create_task(self._refresh_locked(loaded, inflight))
        self._inflight[inflight] = task
        self._refreshing.setdefault(loaded.key, task)
        task.add_done_callback(functools.partial(self._forget, inflight))
        return task, False

    async def _serve_meanwhile(
        self, task: asyncio.Task[ActiveSession | None], loaded: RefreshNeeded
    ) -> ActiveSession | None:
        """Wait for ``task`` at most ``timeout``; the still-valid session if it still runs."""
        await asyncio.wait({task}, timeout=self.config.timeout)
        return None if task.done() else self.flows.serve_meanwhile(loaded)

    async def _refresh_locked(
        self, loaded: RefreshNeeded, inflight: tuple[str, int] | None = None
    ) -> ActiveSession | None:
        events: list[Event] = []
        tag = session_tag(loaded.handle)
        try:
            with telemetry.RefreshWatch(tag, classify_refresh_failure) as watch:
                async with self._locks.hold(loaded.key):
                    try:
                        flow = self.flows.refresh(loaded)
                        return watch.result(await self._drive(flow, events, watch))
                    finally:
                        # The requests that joined this task, and those queued on the lock.
                        joined = 0 if inflight is None else self._joiners.pop(inflight, 0)
                        if watch.called:
                            waiting = self._locks.waiting(loaded.key)
                            telemetry.record_waiters(joined + waiting)
        finally:
            # Inside the refresh task, once: the requests that joined it tell nothing.
            await self._tell(events)

    def _forget(self, key: tuple[str, int], task: asyncio.Task[ActiveSession | None]) -> None:
        self._inflight.pop(key, None)
        self._joiners.pop(key, None)
        if self._refreshing.get(key[0]) is task:
            del self._refreshing[key[0]]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not reported twice

    async def logout(self, handle: str | None) -> bool:
        """End a session; True when there was one."""
        with telemetry.logout(_tag(handle)) as span:
            found = await self._run(self.flows.logout(handle))
            span.set("redtrust.logout.found", found)
            return found

    async def _refresh_keeping_lease(self, tokens: TokenSet, lease: Lease) -> TokenSet:
        """Refresh while a side task renews the store lock's lease (never lets it lapse)."""

        async def renew() -> None:
            while True:
                await anyio.sleep(lease.seconds / 3)
                try:
                    await self.store.areplace_if(
                        lease.key, lease.owner, lease.owner, ttl=lease.seconds
                    )
                except StoreError as error:
                    _lease_not_renewed(error)

        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(renew)
            try:
                tokens = await self.client.refresh(tokens)
            except Exception as error:  # re-raised bare, not wrapped in an ExceptionGroup
                failure = error
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return tokens

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client.aclose()


def _lease_not_renewed(error: StoreError) -> None:
    """Count and log a failed renewal of a refresh lock's lease (the refresh goes on)."""
    telemetry.store_failed("replace_if")
    log(
        logger,
        "redtrust.refresh.lease_not_renewed",
        "redtrust: could not renew a refresh lock's lease",
        error_type=type(error).__name__,
    )
