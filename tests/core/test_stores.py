"""The store contract (MemoryStore and RedisStore, sync and async: TTL, atomicity), MemoryStore's
bounds, Keyring (sealing at rest) and the keyed locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.stores import StoreHarness

from redtrust_middleware._locks import AsyncKeyedLocks, KeyedLocks
from redtrust_middleware.stores import AsyncStore, Keyring, LocalEntries, MemoryStore, Store
from redtrust_middleware.testing import FakeClock

KEY_A = "keyring-secret-A-0123456789abcdefghij"
KEY_B = "keyring-secret-B-0123456789abcdefghij"
SESSION = "redtrust:session:abc"
PENDING = "redtrust:pending:xyz"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock)


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Start ``count`` threads on ``target(i)`` at the same moment and join them."""
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        barrier.wait()
        target(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)


# --- the store contract: MemoryStore and RedisStore -----------------------------------------


def test_stores_fulfil_both_protocols(harness: StoreHarness) -> None:
    assert isinstance(harness.store, Store)
    assert isinstance(harness.store, AsyncStore)


def test_get_set_and_ttl_expiry(harness: StoreHarness) -> None:
    store = harness.store
    assert store.get(SESSION) is None
    store.set(SESSION, b"v1", ttl=10)
    assert store.get(SESSION) == b"v1"
    harness.elapse(9.5)
    assert store.get(SESSION) == b"v1"
    harness.elapse(0.5)
    assert store.get(SESSION) is None


def test_set_overwrites_value_and_ttl(harness: StoreHarness) -> None:
    store = harness.store
    store.set(SESSION, b"v1", ttl=10)
    harness.elapse(5)
    store.set(SESSION, b"v2", ttl=100)
    harness.elapse(50)
    assert store.get(SESSION) == b"v2"
    store.set(SESSION, b"v3", ttl=1)
    harness.elapse(1)
    assert store.get(SESSION) is None


def test_values_are_kept_byte_for_byte(harness: StoreHarness) -> None:
    for value in (b"", b"\x00\xff" * 100, bytes(range(256)), b"x" * 100_000):
        harness.store.set(SESSION, value, ttl=10)
        assert harness.store.get(SESSION) == value


@pytest.mark.parametrize("ttl", [0, -1])
def test_ttl_must_be_positive(harness: StoreHarness, ttl: float) -> None:
    store = harness.store
    with pytest.raises(ValueError, match="ttl"):
        store.set(SESSION, b"v", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        store.add(SESSION, b"v", ttl=ttl)
    assert store.get(SESSION) is None


def test_add_only_if_absent(harness: StoreHarness) -> None:
    store = harness.store
    assert store.add(SESSION, b"first", ttl=10) is True
    assert store.add(SESSION, b"second", ttl=10) is False
    assert store.get(SESSION) == b"first"
    harness.elapse(10)  # the first expired: the key is absent again
    assert store.add(SESSION, b"third", ttl=10) is True
    assert store.get(SESSION) == b"third"


def test_take_gets_and_deletes(harness: StoreHarness) -> None:
    store = harness.store
    store.set(PENDING, b"login", ttl=10)
    assert store.take(PENDING) == b"login"
    assert store.take(PENDING) is None
    assert store.get(PENDING) is None
    store.set(PENDING, b"login", ttl=10)
    harness.elapse(10)
    assert store.take(PENDING) is None


def take_race(store: Store, key: str, threads: int) -> list[bytes]:
    """``threads`` threads take ``key`` at once; return what the winners got."""
    winners: list[bytes] = []
    lock = threading.Lock()

    def take(index: int) -> None:
        value = store.take(key)
        if value is not None:
            with lock:
                winners.append(value)

    run_threads(threads, take)
    return winners


def test_take_is_atomic_under_50_threads(harness: StoreHarness) -> None:
    store = harness.store
    for round_ in range(20):
        key = f"redtrust:pending:race{round_}"
        store.set(key, b"the-one", ttl=60)
        assert take_race(store, key, 50) == [b"the-one"]
        assert store.get(key) is None


def test_add_is_atomic_under_50_threads(harness: StoreHarness) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def add(index: int) -> None:
        stored = harness.store.add("redtrust:lock:x", str(index).encode(), ttl=60)
        with lock:
            results.append(stored)

    run_threads(50, add)
    assert results.count(True) == 1
    assert len(results) == 50


def test_delete(harness: StoreHarness) -> None:
    store = harness.store
    store.delete(SESSION)  # absent: no error
    store.set(SESSION, b"v", ttl=10)
    store.delete(SESSION)
    assert store.get(SESSION) is None


def test_delete_if_only_with_the_owner_value(harness: StoreHarness) -> None:
    store = harness.store
    store.set("redtrust:lock:s1", b"owner-a", ttl=10)
    assert store.delete_if("redtrust:lock:s1", b"owner-b") is False
    assert store.get("redtrust:lock:s1") == b"owner-a"
    assert store.delete_if("redtrust:lock:s1", b"owner-a") is True
    assert store.get("redtrust:lock:s1") is None
    assert store.delete_if("redtrust:lock:s1", b"owner-a") is False
    store.set("redtrust:lock:s1", b"owner-a", ttl=10)
    harness.elapse(10)  # expired: nothing left to delete
    assert store.delete_if("redtrust:lock:s1", b"owner-a") is False


def test_replace_if_is_a_compare_and_set(harness: StoreHarness) -> None:
    store = harness.store
    assert store.replace_if(SESSION, b"v1", b"v2", ttl=10) is False  # absent: not created
    assert store.get(SESSION) is None
    store.set(SESSION, b"v1", ttl=10)
    assert store.replace_if(SESSION, b"other", b"v2", ttl=10) is False
    assert store.get(SESSION) == b"v1"
    assert store.replace_if(SESSION, b"v1", b"v2", ttl=100) is True
    assert store.get(SESSION) == b"v2"
    harness.elapse(50)  # the new ttl counts from the replacement
    assert store.get(SESSION) == b"v2"
    assert store.replace_if(SESSION, b"v2", b"v2", ttl=10) is True  # a lease renewal
    harness.elapse(10)
    assert store.replace_if(SESSION, b"v2", b"v3", ttl=10) is False  # expired meanwhile
    assert store.get(SESSION) is None


def test_replace_if_lets_one_of_many_writers_win(harness: StoreHarness) -> None:
    store = harness.store
    store.set(SESSION, b"read-by-all", ttl=60)
    wins: list[int] = []
    lock = threading.Lock()

    def swap(index: int) -> None:
        if store.replace_if(SESSION, b"read-by-all", str(index).encode(), ttl=60):
            with lock:
                wins.append(index)

    run_threads(30, swap)
    assert len(wins) == 1
    assert store.get(SESSION) == str(wins[0]).encode()


def test_delete_if_lets_one_of_many_owners_release(harness: StoreHarness) -> None:
    store = harness.store
    store.set("redtrust:lock:s1", b"owner", ttl=60)
    released: list[bool] = []
    lock = threading.Lock()

    def release(index: int) -> None:
        done = store.delete_if("redtrust:lock:s1", b"owner")
        with lock:
            released.append(done)

    run_threads(30, release)
    assert released.count(True) == 1


def test_repr_shows_no_values(harness: StoreHarness) -> None:
    harness.store.set(SESSION, b"secret-session-blob", ttl=10)
    assert "secret-session-blob" not in repr(harness.store)
    assert SESSION not in repr(harness.store)


@pytest.mark.anyio
async def test_async_methods_mirror_sync_ones(async_harness: StoreHarness) -> None:
    harness = async_harness
    store = harness.store
    assert await store.aget(SESSION) is None
    await store.aset(SESSION, b"v1", ttl=10)
    assert store.get(SESSION) == b"v1"
    assert await store.aget(SESSION) == b"v1"
    assert await store.aadd(SESSION, b"v2", ttl=10) is False
    assert await store.aadd(PENDING, b"p", ttl=10) is True
    assert await store.atake(PENDING) == b"p"
    assert await store.atake(PENDING) is None
    assert await store.adelete_if(SESSION, b"other") is False
    assert await store.adelete_if(SESSION, b"v1") is True
    await store.aset(SESSION, b"v3", ttl=10)
    assert await store.areplace_if(SESSION, b"v1", b"v4", ttl=10) is False
    assert await store.areplace_if(SESSION, b"v3", b"v4", ttl=10) is True
    assert store.get(SESSION) == b"v4"
    await store.adelete(SESSION)
    assert store.get(SESSION) is None
    await store.aset(SESSION, b"v4", ttl=10)
    harness.elapse(10)
    assert await store.aget(SESSION) is None
    with pytest.raises(ValueError, match="ttl"):
        await store.aset(SESSION, b"v", ttl=0)
    await store.aset(SESSION, b"v", ttl=10)
    with pytest.raises(ValueError, match="ttl"):
        await store.areplace_if(SESSION, b"v", b"w", ttl=-1)
    assert await store.aget(SESSION) == b"v"


@pytest.mark.anyio
async def test_async_take_and_add_are_atomic_under_50_tasks(
    async_harness: StoreHarness,
) -> None:
    store = async_harness.store
    await store.aset(PENDING, b"the-one", ttl=60)
    taken: list[bytes | None] = []
    added: list[bool] = []

    async def race(index: int) -> None:
        taken.append(await store.atake(PENDING))
        added.append(await store.aadd("redtrust:lock:y", str(index).encode(), ttl=60))

    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(race, index)
    assert [value for value in taken if value is not None] == [b"the-one"]
    assert added.count(True) == 1


# --- MemoryStore only: bounds ---------------------------------------------------------------


def test_memory_store_counts_live_entries(memory: MemoryStore, clock: FakeClock) -> None:
    memory.set(SESSION, b"v1", ttl=10)
    assert len(memory) == 1
    clock.advance(10)
    assert memory.get(SESSION) is None
    assert len(memory) == 0


def test_flooding_pending_logins_never_evicts_sessions(clock: FakeClock) -> None:
    store = MemoryStore(max_entries=10, clock=clock)
    sessions = [f"redtrust:session:{i}" for i in range(10)]
    for key in sessions:
        store.set(key, b"session", ttl=3600)
    for i in range(10_000):
        store.set(f"redtrust:pending:{i}", b"pending", ttl=600)
    assert all(store.get(key) == b"session" for key in sessions)
    pending = [store.get(f"redtrust:pending:{i}") for i in range(10_000)]
    assert sum(value is not None for value in pending) == 10
    # The survivors are the most recently written ones.
    assert all(value is not None for value in pending[-10:])
    assert len(store) == 20


def test_expired_entries_are_evicted_before_live_ones(clock: FakeClock) -> None:
    store = MemoryStore(max_entries=3, clock=clock)
    store.set("ns:old-live", b"1", ttl=1000)  # oldest write, still live
    store.set("ns:short-a", b"2", ttl=5)
    store.set("ns:short-b", b"3", ttl=5)
    clock.advance(5)
    store.set("ns:new", b"4", ttl=1000)
    assert store.get("ns:old-live") == b"1"
    assert store.get("ns:new") == b"4"
    assert len(store) == 2


def test_least_recently_written_is_evicted_when_all_are_live(clock: FakeClock) -> None:
    store = MemoryStore(max_entries=2, clock=clock)
    store.set("ns:a", b"a", ttl=100)
    store.set("ns:b", b"b", ttl=100)
    store.set("ns:a", b"a2", ttl=100)  # rewriting refreshes its position
    store.set("ns:c", b"c", ttl=100)
    assert store.get("ns:b") is None
    assert (store.get("ns:a"), store.get("ns:c")) == (b"a2", b"c")


def test_expired_entries_are_freed_by_the_next_write_to_their_namespace(
    clock: FakeClock,
) -> None:
    store = MemoryStore(max_entries=100, clock=clock)  # far from full
    for i in range(50):
        store.set(f"redtrust:pending:{i}", b"p", ttl=600)
    store.set(SESSION, b"s", ttl=3600)
    clock.advance(600)
    assert len(store) == 51  # expired but not yet freed: nothing was written since
    store.set("redtrust:pending:new", b"p", ttl=600)
    assert len(store) == 2  # the 50 expired pending logins are gone, the session stays


def test_a_full_namespace_stays_bounded_under_rewrites_and_deletes(clock: FakeClock) -> None:
    store = MemoryStore(max_entries=10, clock=clock)
    for round_ in range(2_000):
        key = f"ns:{round_ % 25}"
        store.set(key, b"v", ttl=100 + round_ % 7)
        if round_ % 3 == 0:
            store.take(key)
        assert len(store) <= 10
    # The expiry order holds each live entry once, plus a bounded number of stale places.
    queue = store._queues["ns"]
    assert len(queue.order) <= len(store)
    assert len(queue.late) <= 2 * (len(store) - len(queue.order)) + 64


def test_a_full_namespace_under_concurrent_writers_keeps_its_bound() -> None:
    store = MemoryStore(max_entries=50)
    store.set(SESSION, b"session", ttl=3600)

    def writer(index: int) -> None:
        for round_ in range(500):
            key = f"redtrust:pending:{index}-{round_}"
            store.set(key, b"p", ttl=60 + (index + round_) % 5)
            store.get(key)
            if round_ % 7 == 0:
                store.take(key)

    run_threads(8, writer)
    assert len(store) == 51  # 50 pending logins (the bound) and the session
    assert store.get(SESSION) == b"session"
    queue = store._queues["redtrust:pending"]
    assert set(queue.order) <= set(store._spaces["redtrust:pending"])


# One MemoryStore operation: (name, namespace, key number, ttl or seconds to advance).
Operation = tuple[str, str, int, int]
OPERATIONS = st.tuples(
    st.sampled_from(["set", "add", "take", "delete", "advance"]),
    st.sampled_from(["a", "b"]),
    st.integers(0, 5),
    st.integers(1, 6),
)


class ModelStore:
    """What MemoryStore must do, the slow and obvious way (a scan for every decision)."""

    def __init__(self, max_entries: int) -> None:
        self.max = max_entries
        self.now = 0.0
        self.writes = 0
        self.entries: dict[str, tuple[float, int, bytes]] = {}  # key: (expires, write, value)

    def live(self, key: str) -> bytes | None:
        entry = self.entries.get(key)
        if entry is not None and entry[0] <= self.now:
            del self.entries[key]
            return None
        return None if entry is None else entry[2]

    def put(self, key: str, value: bytes, ttl: float) -> None:
        space = key.rpartition(":")[0]
        mates = [k for k in self.entries if k.rpartition(":")[0] == space]
        for k in mates:  # a write frees its namespace's expired entries
            if self.entries[k][0] <= self.now:
                del self.entries[k]
        self.entries.pop(key, None)
        while True:
            mates = [k for k in self.entries if k.rpartition(":")[0] == space]
            if len(mates) < self.max:
                break
            del self.entries[min(mates, key=lambda k: self.entries[k][:2])]
        self.writes += 1
        self.entries[key] = (self.now + ttl, self.writes, value)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPERATIONS, max_size=60))
def test_memory_store_matches_a_model_of_its_bounds(operations: list[Operation]) -> None:
    clock = FakeClock(0.0)
    store, model = MemoryStore(max_entries=3, clock=clock), ModelStore(3)
    keys = [f"{space}:{i}" for space in "ab" for i in range(6)]
    for step, (name, space, number, amount) in enumerate(operations):
        key, value = f"{space}:{number}", f"v{step}".encode()
        if name == "advance":
            clock.advance(amount)
            model.now += amount
        elif name == "set":
            store.set(key, value, ttl=amount)
            model.put(key, value, amount)
        elif name == "add":
            stored = model.live(key) is None
            if stored:
                model.put(key, value, amount)
            assert store.add(key, value, ttl=amount) is stored
        elif name == "take":
            assert store.take(key) == model.live(key)
            model.entries.pop(key, None)
        else:
            store.delete(key)
            model.entries.pop(key, None)
        assert len(store) == len(model.entries)
    assert [store.get(key) for key in keys] == [model.live(key) for key in keys]


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


# --- Keyring --------------------------------------------------------------------------------


PLAINTEXT = b'{"access": "eyJ-secret-access-token", "refresh": "secret-refresh-token"}'


def test_seal_and_open_round_trip() -> None:
    ring = Keyring([KEY_A])
    for plaintext in (PLAINTEXT, b"", b"\x00" * 1000):
        sealed = ring.seal(plaintext, context=SESSION)
        assert ring.open(sealed, context=SESSION) == plaintext


def test_sealing_is_randomised() -> None:
    ring = Keyring([KEY_A])
    assert ring.seal(PLAINTEXT, context=SESSION) != ring.seal(PLAINTEXT, context=SESSION)


def test_ciphertext_contains_no_plaintext() -> None:
    sealed = Keyring([KEY_A]).seal(PLAINTEXT, context=SESSION)
    for size in (8, 12):
        for start in range(len(PLAINTEXT) - size + 1):
            assert PLAINTEXT[start : start + size] not in sealed
    assert b"secret" not in sealed


def test_context_binding() -> None:
    ring = Keyring([KEY_A])
    sealed = ring.seal(PLAINTEXT, context="redtrust:session:alice")
    assert ring.open(sealed, context="redtrust:session:mallory") is None
    assert ring.open(sealed, context="") is None
    assert ring.open(sealed, context="redtrust:session:alice") == PLAINTEXT


def test_flipping_any_byte_reads_as_absent() -> None:
    ring = Keyring([KEY_A])
    sealed = ring.seal(b"short record", context=SESSION)
    for index in range(len(sealed)):
        for mask in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[index] ^= mask
            assert ring.open(bytes(tampered), context=SESSION) is None, index


def test_truncated_or_extended_reads_as_absent() -> None:
    ring = Keyring([KEY_A])
    sealed = ring.seal(PLAINTEXT, context=SESSION)
    for length in range(len(sealed)):
        assert ring.open(sealed[:length], context=SESSION) is None
    assert ring.open(sealed + b"\x00", context=SESSION) is None
    assert ring.open(b"", context=SESSION) is None


def test_rotation() -> None:
    old = Keyring([KEY_A])
    sealed_old = old.seal(PLAINTEXT, context=SESSION)
    rotated = Keyring([KEY_B, KEY_A])
    assert rotated.open(sealed_old, context=SESSION) == PLAINTEXT
    assert rotated.needs_reseal(sealed_old) is True
    sealed_new = rotated.seal(PLAINTEXT, context=SESSION)
    assert rotated.needs_reseal(sealed_new) is False
    assert old.open(sealed_new, context=SESSION) is None  # the old ring lacks the new key
    retired = Keyring([KEY_B])
    assert retired.open(sealed_old, context=SESSION) is None


def test_unknown_key_reads_as_absent() -> None:
    sealed = Keyring([KEY_A]).seal(PLAINTEXT, context=SESSION)
    assert Keyring([KEY_B]).open(sealed, context=SESSION) is None
    assert Keyring.ephemeral().open(sealed, context=SESSION) is None


def test_ephemeral_keyrings_are_independent() -> None:
    first, second = Keyring.ephemeral(), Keyring.ephemeral()
    sealed = first.seal(PLAINTEXT, context=SESSION)
    assert first.open(sealed, context=SESSION) == PLAINTEXT
    assert second.open(sealed, context=SESSION) is None


def test_keyring_repr_shows_no_key() -> None:
    ring = Keyring([KEY_A, KEY_B])
    text = f"{ring!r} {ring!s}"
    assert KEY_A not in text
    assert KEY_B not in text
    assert "keyring-secret" not in text


def test_keyring_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        Keyring([])


# --- keyed locks ----------------------------------------------------------------------------


def test_keyed_locks_exclude_per_key_and_empty_after_use() -> None:
    locks = KeyedLocks()
    inside = 0
    peak = 0
    guard = threading.Lock()
    counter = {"value": 0}

    def work(index: int) -> None:
        nonlocal inside, peak
        for _ in range(20):
            with locks.hold("session-1"):
                with guard:
                    inside += 1
                    peak = max(peak, inside)
                value = counter["value"]
                time.sleep(0)  # yield to other threads inside the section
                counter["value"] = value + 1
                with guard:
                    inside -= 1

    run_threads(20, work)
    assert peak == 1
    assert counter["value"] == 400
    assert len(locks) == 0


def test_keyed_locks_are_independent_across_keys() -> None:
    locks = KeyedLocks()
    entered_b = threading.Event()

    with locks.hold("a"):
        thread = threading.Thread(target=lambda: _enter(locks, "b", entered_b))
        thread.start()
        # "b" is not blocked by the held "a".
        assert entered_b.wait(timeout=10)
        thread.join(timeout=10)
        assert len(locks) == 1
    assert len(locks) == 0


def _enter(locks: KeyedLocks, key: str, event: threading.Event) -> None:
    with locks.hold(key):
        event.set()


def test_keyed_locks_block_the_same_key() -> None:
    locks = KeyedLocks()
    acquired = threading.Event()

    def second() -> None:
        with locks.hold("a"):
            acquired.set()

    with locks.hold("a"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(timeout=0.2)
        assert len(locks) == 1
    thread.join(timeout=10)
    assert acquired.is_set()
    assert len(locks) == 0


def test_keyed_locks_release_on_error() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError), locks.hold("a"):
        raise RuntimeError("boom")
    assert len(locks) == 0
    with locks.hold("a"):  # not left locked
        pass


@pytest.mark.anyio
async def test_async_keyed_locks_exclude_per_key_and_empty_after_use() -> None:
    locks = AsyncKeyedLocks()
    inside = 0
    peak = 0
    order: list[str] = []

    async def work(name: str) -> None:
        nonlocal inside, peak
        async with locks.hold("session-1"):
            inside += 1
            peak = max(peak, inside)
            order.append(f"in:{name}")
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            order.append(f"out:{name}")
            inside -= 1

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(work, str(i))
    assert peak == 1
    assert len(order) == 100
    assert all(
        order[i].startswith("in:") and order[i + 1] == "out:" + order[i][3:]
        for i in range(0, 100, 2)
    )
    assert len(locks) == 0


@pytest.mark.anyio
async def test_async_keyed_locks_are_independent_across_keys() -> None:
    locks = AsyncKeyedLocks()
    entered_b = anyio.Event()

    async def hold_b() -> None:
        async with locks.hold("b"):
            entered_b.set()

    async with locks.hold("a"):
        async with anyio.create_task_group() as group:
            group.start_soon(hold_b)
            with anyio.fail_after(5):
                await entered_b.wait()
        assert len(locks) == 1
    assert len(locks) == 0


@pytest.mark.anyio
async def test_async_keyed_locks_release_on_cancel() -> None:
    locks = AsyncKeyedLocks()
    entered: list[bool] = []

    async def waiter() -> None:
        with anyio.move_on_after(0.05):
            async with locks.hold("a"):  # waits, then is cancelled while waiting
                entered.append(True)

    async with locks.hold("a"), anyio.create_task_group() as group:
        group.start_soon(waiter)
    assert entered == []
    assert len(locks) == 0
    async with locks.hold("a"):  # not left locked
        assert len(locks) == 1
    assert len(locks) == 0


def test_the_memory_store_offers_its_entries_only_while_read_local_is_its_own() -> None:
    """``local_entries`` lets the web faces check a session by the identity of the store's
    entry; a store whose reads are answered another way (a subclass's ``read_local``, or one
    set on the instance) offers none, so its own ``read_local`` is always asked."""
    store = MemoryStore(clock=lambda: 100.0)
    entries = store.local_entries()
    assert entries is not None
    store.set("ns:k", b"v", ttl=10)
    first = entries("ns:k")
    assert first == (110.0, b"v")
    store.set("ns:k", b"v", ttl=10)
    assert entries("ns:k") is not first  # every write puts a new entry, even of equal bytes
    store.delete("ns:k")
    assert entries("ns:k") is None

    class Counting(MemoryStore):
        def read_local(self, key: str) -> bytes | None:
            return super().read_local(key)

    assert Counting().local_entries() is None
    patched = MemoryStore()
    patched.read_local = lambda key: None  # type: ignore[method-assign]
    assert patched.local_entries() is None
    assert isinstance(store, LocalEntries)
