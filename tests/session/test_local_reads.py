"""Serving a signed-in request from the store's local read (``get_local``): what it serves
is what ``get`` would, on the very next request after a logout, a refresh or an expiry,
with either driver; a sampled request still gets its store span; idle time is still
extended."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from redtrust_middleware import telemetry
from redtrust_middleware.client import AsyncClient, Client
from redtrust_middleware.hooks import Hooks, LogoutEvent
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.session import ActiveSession, AsyncSessionManager, SessionManager
from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.testing import FakeClock, make_config, make_sandbox

pytestmark = pytest.mark.anyio

IDLE = 1800.0  # the defaults: touch after IDLE / 10, refresh LEEWAY before expiry
LEEWAY = 60.0
TOKEN_TTL = 3600


# -- MemoryStore.read_local -------------------------------------------------------------------


def test_memory_store_answers_every_read_locally_and_honours_expiry() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    assert store.read_local("app:session:a") is None  # absent: known here, not NOT_LOCAL
    store.set("app:session:a", b"one", ttl=10)
    assert store.read_local("app:session:a") == b"one"
    clock.advance(9.999)
    assert store.read_local("app:session:a") == b"one" == store.get("app:session:a")
    clock.advance(0.001)  # exactly its TTL: gone, as for get
    assert store.read_local("app:session:a") is None
    assert store.get("app:session:a") is None
    assert len(store) == 0  # the expired entry was dropped on the way
    store.set("app:session:b", b"two", ttl=5)
    store.delete("app:session:b")
    assert store.read_local("app:session:b") is None
    for value in (store.read_local("app:pending:x"), store.read_local("nowhere")):
        assert value is None  # known absent (MemoryStore never answers NOT_LOCAL)


def test_memory_store_reads_follow_evictions_and_rewrites() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=2, clock=clock)
    store.set("app:pending:1", b"1", ttl=60)
    store.set("app:pending:2", b"2", ttl=60)
    store.set("app:pending:3", b"3", ttl=60)  # full: the one that expires first goes
    assert [store.read_local(f"app:pending:{n}") for n in (1, 2, 3)] == [None, b"2", b"3"]
    store.set("app:session:s", b"s", ttl=30)  # another namespace: evicts nothing there
    assert store.read_local("app:pending:2") == b"2"
    assert store.replace_if("app:session:s", b"s", b"t", ttl=30)
    assert store.read_local("app:session:s") == b"t"
    clock.advance(31)
    store.set("app:session:u", b"u", ttl=30)  # a write frees the namespace's expired entries
    assert store.read_local("app:session:s") is None
    assert len(store) == 3  # pending 2 and 3 (expired but not yet freed), and u


# -- the managers -----------------------------------------------------------------------------


@dataclass
class Site:
    """A process's manager (sync or async) and a second worker's, over one store."""

    clock: FakeClock
    sandbox: Sandbox
    store: MemoryStore
    manager: Any  # SessionManager | AsyncSessionManager
    other: Any  # a second worker over the same store
    ended: list[LogoutEvent]
    is_async: bool

    async def call(self, manager: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(manager, name)(*args, **kwargs)
        return await result if self.is_async else result

    async def get(self, handle: str, manager: Any = None) -> ActiveSession | None:
        session: ActiveSession | None = await self.call(manager or self.manager, "get", handle)
        return session

    async def sign_in(self) -> str:
        start = await self.call(
            self.manager, "begin_login", next_url="/", callback_url=make_config().redirect_url
        )
        temp = self.sandbox.issue_temp_token("alice")
        done = await self.call(
            self.manager,
            "complete_login",
            query=f"state={start.browser_nonces[-1]}&tkn={temp}",
            browser_nonces=start.browser_nonces,
        )
        handle: str = done.handle
        return handle

    def blob(self, handle: str) -> bytes | None:
        key = self.manager.flows.key_for(handle)
        return self.store.read_local(key)


def _site(is_async: bool, *, idle: float = IDLE, token_ttl: int = TOKEN_TTL) -> Site:
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock, access_token_ttl=token_ttl)
    store = MemoryStore(clock=clock)
    config = make_config(idle_timeout=idle)
    ended: list[LogoutEvent] = []
    hooks = Hooks(on_logout=ended.append)
    managers: list[Any] = []
    for _ in range(2):
        if is_async:
            client: Any = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
            managers.append(
                AsyncSessionManager(config, store=store, client=client, clock=clock, hooks=hooks)
            )
        else:
            client = Client(config, transport=sandbox.transport(), clock=clock)
            managers.append(
                SessionManager(config, store=store, client=client, clock=clock, hooks=hooks)
            )
    return Site(clock, sandbox, store, managers[0], managers[1], ended, is_async)


async def _closed(made: Site) -> None:
    for manager in (made.manager, made.other):
        await made.call(manager, "aclose" if made.is_async else "close")


@pytest.fixture(params=["sync", "async"])
async def site(request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    made = _site(request.param == "async")
    yield made
    await _closed(made)


@pytest.fixture(params=["sync", "async"])
async def short_token(request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    """A site whose token needs a refresh (after 540 s) long before any touch (1440 s)."""
    made = _site(request.param == "async", idle=4 * 3600, token_ttl=600)
    yield made
    await _closed(made)


async def test_a_signed_in_request_is_served_locally_once_its_record_was_opened(
    site: Site,
) -> None:
    handle = await site.sign_in()
    assert site.manager.get_local(handle) is None  # never opened in this process yet
    first = await site.get(handle)
    assert first is not None
    served = site.manager.get_local(handle)
    assert served is first  # the same session, without a store call or a coroutine
    assert await site.get(handle) is first
    assert site.manager.get_local("not-a-handle") is None


async def test_a_logout_elsewhere_is_seen_on_the_very_next_request(site: Site) -> None:
    handle = await site.sign_in()
    await site.get(handle)
    assert site.manager.get_local(handle) is not None
    assert await site.call(site.other, "logout", handle)  # another worker signs out
    assert site.manager.get_local(handle) is None
    assert await site.get(handle) is None
    assert site.manager.get_local(handle) is None


async def test_a_refresh_elsewhere_is_seen_on_the_very_next_request(short_token: Site) -> None:
    site = short_token
    handle = await site.sign_in()
    before = await site.get(handle)
    assert before is not None
    site.clock.advance(600 - LEEWAY + 1)  # due for refresh
    assert site.manager.get_local(handle) is None
    refreshed = await site.get(handle, site.other)  # another worker refreshes
    assert refreshed is not None
    assert refreshed.refreshed
    assert site.sandbox.calls["refresh"] == 1
    assert site.manager.get_local(handle) is None  # other bytes: decided anew
    seen = await site.get(handle)
    assert seen is not None
    assert seen.tokens.access_token == refreshed.tokens.access_token != before.tokens.access_token
    assert site.manager.get_local(handle) is seen
    assert site.sandbox.calls["refresh"] == 1  # not refreshed twice


async def test_a_refresh_due_is_never_served_locally(short_token: Site) -> None:
    site = short_token
    handle = await site.sign_in()
    before = await site.get(handle)
    assert before is not None
    site.clock.advance(600 - LEEWAY - 1)
    assert site.manager.get_local(handle) is before
    site.clock.advance(1)  # expires within the leeway: refresh now
    assert site.manager.get_local(handle) is None
    after = await site.get(handle)
    assert after is not None
    assert after.refreshed
    assert site.sandbox.calls["refresh"] == 1


async def test_idle_time_is_still_extended(site: Site) -> None:
    handle = await site.sign_in()
    await site.get(handle)
    blob = site.blob(handle)
    site.clock.advance(IDLE / 10)  # not yet: a touch comes only once more has passed
    assert site.manager.get_local(handle) is not None
    site.clock.advance(1)
    assert site.manager.get_local(handle) is None
    assert await site.get(handle) is not None  # touched
    assert site.blob(handle) not in (None, blob)
    assert site.manager.get_local(handle) is None  # new bytes: opened once more ...
    assert await site.get(handle) is not None
    assert site.manager.get_local(handle) is not None  # ... then served locally again
    # A session kept busy outlives its idle timeout: each touch extends it.
    for _ in range(12):
        site.clock.advance(IDLE / 5)
        assert await site.get(handle) is not None
    assert not site.ended


async def test_an_expired_session_ends_on_the_very_next_request(site: Site) -> None:
    handle = await site.sign_in()
    await site.get(handle)
    site.clock.advance(IDLE)  # the store's TTL of an untouched session is its idle timeout
    assert site.manager.get_local(handle) is None
    assert await site.get(handle) is None
    assert [event.reason for event in site.ended] == ["expired"]


@pytest.mark.parametrize("first", ["touch", "refresh"])
async def test_what_is_served_locally_is_what_get_decides_around_every_deadline(
    site: Site, short_token: Site, first: str
) -> None:
    site = site if first == "touch" else short_token
    handle = await site.sign_in()
    await site.get(handle)
    flows, key = site.manager.flows, site.manager.flows.key_for(handle)
    blob = site.blob(handle)
    assert blob is not None
    start = site.clock.now
    # The touch after IDLE / 10 (compared with >), the refresh LEEWAY before the token's
    # expiry (<=): just before, at and just after each, and between them.
    moments = [IDLE / 10] if first == "touch" else [600 - LEEWAY]
    offsets = [0.0, 1.0, 100.0]
    for moment in moments:
        offsets += [moment - 0.002, moment - 0.001, moment - 1e-6, moment, moment + 1e-6]
    for offset in sorted(offsets):
        site.clock.now = start + offset
        decided = flows.loaded(handle, key, blob)
        served = site.manager.get_local(handle)
        assert (served is not None) == isinstance(decided, ActiveSession), offset
        assert served is None or served is decided
    site.clock.now = start  # the clock going back serves again
    assert site.manager.get_local(handle) is not None


# -- telemetry --------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(tracer_provider=provider)
    try:
        yield exporter
    finally:
        telemetry.use()


async def test_a_sampled_request_still_gets_its_store_span(
    site: Site, spans: InMemorySpanExporter
) -> None:
    handle = await site.sign_in()
    await site.get(handle)
    spans.clear()
    assert await site.get(handle) is not None  # unsampled: served locally, no span
    assert spans.get_finished_spans() == ()
    tracer = TracerProvider().get_tracer("tests")  # the app's own provider, sampling all
    with tracer.start_as_current_span("GET /me"):
        assert site.manager.get_local(handle) is None
        assert await site.get(handle) is not None
    names = [span.name for span in spans.get_finished_spans()]
    assert names == ["redtrust.store.get"]
    (read,) = spans.get_finished_spans()
    assert dict(read.attributes or {}) == {
        "redtrust.store.operation": "get",
        "redtrust.store.backend": "MemoryStore",
    }


async def test_a_store_without_local_reads_takes_the_usual_path() -> None:
    clock = FakeClock()
    inner = MemoryStore(clock=clock)
    reads: list[str] = []

    class Counting:  # the store protocol, without read_local
        async def aget(self, key: str) -> bytes | None:
            reads.append(key)
            return await inner.aget(key)

        def __getattr__(self, name: str) -> Any:
            if name == "read_local":
                raise AttributeError(name)
            return getattr(inner, name)

    sandbox = make_sandbox(clock=clock, access_token_ttl=TOKEN_TTL)
    config = make_config()
    client = AsyncClient(config, transport=sandbox.async_transport(), clock=clock)
    manager = AsyncSessionManager(config, store=Counting(), client=client, clock=clock)
    start = await manager.begin_login(next_url="/", callback_url=config.redirect_url)
    done = await manager.complete_login(
        query=f"state={start.browser_nonces[-1]}&tkn={sandbox.issue_temp_token('alice')}",
        browser_nonces=start.browser_nonces,
    )
    for _ in range(3):
        assert await manager.get(done.handle) is not None
    assert manager.get_local(done.handle) is None
    assert len(reads) == 3  # one read per request, as before
    # Over the MemoryStore itself (``using``), the same manager serves locally.
    bound = manager.using(inner)
    assert await bound.get(done.handle) is not None
    assert bound.get_local(done.handle) is not None
    assert manager.get_local(done.handle) is None  # the original manager is unchanged
    await manager.aclose()
