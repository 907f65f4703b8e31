"""The in-process memos: bounded, expiring in write order, and never scanned when full."""

from __future__ import annotations

from redtrust_middleware.session.memo import Cache, Memo
from redtrust_middleware.testing import FakeClock


def test_a_memo_forgets_an_entry_once_its_ttl_passed() -> None:
    clock = FakeClock(1000.0)
    memo: Memo[str, int] = Memo(ttl=5.0, clock=clock)
    memo.put("a", 1)
    clock.advance(4.9)
    assert memo.get("a") == 1
    clock.advance(0.1)
    assert memo.get("a") is None


def test_a_full_memo_drops_the_expired_then_the_oldest() -> None:
    clock = FakeClock(1000.0)
    memo: Memo[str, int] = Memo(ttl=10.0, clock=clock, max_entries=3)
    memo.put("old", 0)
    clock.advance(5)
    memo.put("a", 1)
    memo.put("b", 2)
    clock.advance(5)  # "old" expired
    memo.put("c", 3)
    assert len(memo) == 3
    assert [memo.get(k) for k in ("a", "b", "c")] == [1, 2, 3]
    memo.put("d", 4)  # full, none expired: the oldest goes
    assert [memo.get(k) for k in ("a", "b", "c", "d")] == [None, 2, 3, 4]


def test_a_rewrite_starts_the_ttl_anew_and_moves_the_entry_last() -> None:
    clock = FakeClock(1000.0)
    memo: Memo[str, int] = Memo(ttl=10.0, clock=clock, max_entries=2)
    memo.put("a", 1)
    memo.put("b", 2)
    clock.advance(8)
    memo.put("a", 10)
    memo.put("c", 3)  # full: "b" is now the oldest
    assert [memo.get(k) for k in ("a", "b", "c")] == [10, None, 3]
    clock.advance(5)
    assert memo.get("a") == 10  # written 5 s ago


def test_a_cache_keeps_its_newest_entries() -> None:
    cache: Cache[str, int] = Cache(max_entries=2)
    for i, key in enumerate("abc"):
        cache.put(key, i)
    assert dict(cache) == {"b": 1, "c": 2}
    cache.put("b", 5)  # a rewrite evicts nothing
    assert dict(cache) == {"b": 5, "c": 2}


class _NoScan(Cache[int, int]):
    """A cache that fails if anything iterates it, and counts its evictions."""

    __slots__ = ("evictions",)

    def __init__(self, *, max_entries: int) -> None:
        super().__init__(max_entries=max_entries)
        self.evictions = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("an eviction scanned the cache")

    def popitem(self, last: bool = True) -> tuple[int, int]:
        assert last is False  # the oldest, from the head of the list
        self.evictions += 1
        return super().popitem(last=last)


def test_a_cache_evicts_the_oldest_without_scanning_however_much_it_churned() -> None:
    # A plain dict finds its first key by stepping over the slots of deleted entries, so
    # eviction cost grew with churn; the ordered dict unlinks its head: no iteration at all.
    cache = _NoScan(max_entries=1000)
    for i in range(50_000):
        cache.put(i, i)
        assert cache.evictions == max(0, i + 1 - 1000)  # at most one eviction per put
    assert len(cache) == 1000
    assert [cache.get(k) for k in (48_999, 49_000, 49_999)] == [None, 49_000, 49_999]


def test_a_cache_needs_room_for_one_entry() -> None:
    import pytest

    with pytest.raises(ValueError, match="max_entries"):
        Cache(max_entries=0)
