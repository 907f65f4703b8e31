"""The per-request path of the Django face: a signed-in request with nothing due is served by
one read of the session, decoded once per write, with no manager built for it; anything else
(a refresh, an end) still goes through the session manager, as before."""

from __future__ import annotations

import base64
from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory

from redtrust_django import _records, signals
from redtrust_django._memo import Bounded
from redtrust_django._web import bound_context
from redtrust_django.conf import get_runtime
from redtrust_django.middleware import RedtrustMiddleware
from redtrust_django.store import DjangoStore
from redtrust_middleware import AsyncSessionManager, SessionManager
from redtrust_middleware.stores import MemoryStore
from redtrust_middleware.stores.operations import Get, Put
from redtrust_middleware.testing import make_config

from .conftest import DjangoSite

NOW = 1_000.0
VALUE = b"\x00sealed record\xff" * 40
TEXT = base64.b64encode(VALUE).decode()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "not a dict",
        {},
        {"k": [TEXT, NOW + 1]},
        {"k": [TEXT, NOW]},  # expires now: gone
        {"k": [TEXT, NOW - 1]},
        {"k": [TEXT, True]},  # a bool is an int (1): long expired
        {"k": [TEXT, "later"]},
        {"k": [TEXT]},
        {"k": (TEXT, NOW + 1)},
        {"k": ["not base64!", NOW + 1]},
        {"k": [TEXT.encode(), NOW + 1]},  # bytes decode too, as before
        {"k": [12, NOW + 1]},
        {"other": [TEXT, NOW + 1]},
    ],
)
def test_the_fast_read_answers_as_the_store_operation(raw: Any) -> None:
    expected, changed = _records.apply(_records.live(raw, NOW), Get("k"), NOW)
    assert changed is None
    assert _records.read(raw, "k", NOW) == expected


def test_equal_text_is_decoded_once_and_gives_the_same_bytes() -> None:
    text = base64.b64encode(b"another record " * 30).decode()
    first = _records.read({"k": [text, NOW + 1]}, "k", NOW)
    # A session loaded again holds an equal string, not the same object.
    again = "".join(list(text))
    assert again is not text
    second = _records.read({"k": [again, NOW + 1]}, "k", NOW)
    assert first == b"another record " * 30
    assert second is first


def test_texts_that_end_alike_are_each_decoded_as_themselves() -> None:
    # The memo finds a text by its end: another text with the same end is not taken for it.
    tail = base64.b64encode(b"the same last bytes of a record").decode()
    first = base64.b64encode(b"one record, ").decode() + tail
    second = base64.b64encode(b"another one ").decode() + tail
    assert first[-40:] == second[-40:]
    assert first != second
    for _ in range(2):
        for text in (first, second):
            read = _records.read({"k": [text, NOW + 1]}, "k", NOW)
            assert read == base64.b64decode(text)


def test_what_a_request_writes_is_read_back_without_decoding() -> None:
    value = b"written by this request " * 20
    _, records = _records.apply({}, Put("k", value, 60), NOW)
    assert records is not None
    assert _records.read(records, "k", NOW) is value


def test_a_bounded_memo_drops_its_oldest_entry_first() -> None:
    memo: Bounded[str, int] = Bounded(3)
    for number, key in enumerate("abc"):
        memo.put(key, number)
    memo.put("a", 10)  # known already: nothing dropped, the value replaced
    assert [memo.get(k) for k in "abc"] == [10, 1, 2]
    memo.put("d", 3)
    assert memo.get("a") is None
    assert [memo.get(k) for k in "bcd"] == [1, 2, 3]
    assert len(memo) == 3
    with pytest.raises(ValueError, match="at least one"):
        Bounded(0)


def test_a_context_is_bound_once_per_client(dsite: DjangoSite) -> None:
    dsite.sign_in()
    first, second = _context_of(dsite), _context_of(dsite)
    assert first is not None
    assert first.subject == "alice"
    assert second is first  # the same frozen context for an unchanged session
    runtime = get_runtime()
    assert first.client is not None
    assert first.client._client is runtime.sync_manager.client
    other = runtime.async_manager.client
    rebound = bound_context(first, other)
    assert rebound is not first
    assert rebound.client is not None
    assert rebound.client._client is other
    assert rebound.tokens is first.tokens
    assert bound_context(first, other) is rebound


def _context_of(dsite: DjangoSite) -> Any:
    """``request.redtrust`` of a request of this browser, through the (sync) middleware."""
    engine = import_module(settings.SESSION_ENGINE)
    request = RequestFactory().get("/api/me")
    request.session = engine.SessionStore(dsite.session_id())
    RedtrustMiddleware(lambda _: HttpResponse())(request)
    return request.redtrust  # type: ignore[attr-defined]


def test_a_fresh_signed_in_request_does_no_manager_work(
    dsite: DjangoSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    for manager_class in (SessionManager, AsyncSessionManager):
        original = manager_class.get

        def counting(self: Any, handle: Any, original: Any = original) -> Any:
            loads.append(type(self).__name__)
            return original(self, handle)

        monkeypatch.setattr(manager_class, "get", counting)
    writes: list[str] = []
    for name in ("set", "replace_if", "add", "delete", "take", "delete_if"):
        for prefix in ("", "a"):  # the sync and async forms
            original_write = getattr(DjangoStore, prefix + name)

            def write(
                self: Any, *args: Any, name: str = name, original: Any = original_write, **kw: Any
            ) -> Any:
                writes.append(name)
                return original(self, *args, **kw)

            monkeypatch.setattr(DjangoStore, prefix + name, write)
    refreshed: list[Any] = []

    def receive(**kwargs: Any) -> None:
        refreshed.append(kwargs["context"])

    dsite.sign_in()
    assert dsite.get("/api/me").status_code == 200  # the record is opened once
    loads.clear()
    writes.clear()
    for _ in range(3):
        assert dsite.get("/api/me").status_code == 200
    assert loads == []  # served from the session already loaded: no manager work
    assert writes == []
    signals.token_refreshed.connect(receive, weak=False)
    try:
        dsite.clock.advance(400)  # the token is due: the manager refreshes it
        assert dsite.get("/api/me").status_code == 200
    finally:
        signals.token_refreshed.disconnect(receive)
    assert len(loads) == 1
    assert "replace_if" in writes
    assert len(refreshed) == 1
    assert refreshed[0].refreshed


@pytest.mark.parametrize("manager_class", [SessionManager, AsyncSessionManager])
def test_using_shares_everything_but_the_store(manager_class: Any) -> None:
    config = make_config()
    base = manager_class(config, store=MemoryStore())
    other = MemoryStore()
    bound = manager_class.using(base, other)
    assert type(bound) is manager_class
    assert bound.store is other
    assert base.store is not other
    assert bound.flows is base.flows
    assert bound.client is base.client
    assert bound._locks is base._locks
    assert bound.hooks is base.hooks
    if manager_class is AsyncSessionManager:
        assert bound._inflight is base._inflight
        assert bound._refreshing is base._refreshing
        assert bound._lasting_store is False
        assert base._lasting_store is True


def test_the_store_reads_locally_only_a_loaded_session() -> None:
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    from redtrust_django.store import SESSION_KEY
    from redtrust_middleware.stores import NOT_LOCAL

    def store_over(session: Any) -> DjangoStore:
        return DjangoStore(session, "default", lambda: NOW, lambda key: key.startswith("b:"))

    unloaded = SessionStore()
    assert store_over(unloaded).read_local("b:k") is NOT_LOCAL  # only the engine can tell
    loaded = SessionStore()
    loaded[SESSION_KEY] = {"b:k": [TEXT, NOW + 1]}
    store = store_over(loaded)
    assert store.read_local("b:k") == VALUE == store.get("b:k")
    assert store.read_local("b:k") is store.read_local("b:k")  # the same bytes object
    assert store.read_local("b:gone") is None
    assert store.read_local("cache:k") is NOT_LOCAL  # a record of the Django cache


def test_what_the_hot_path_reads_once_follows_the_settings(settings: Any) -> None:
    """Settings the middleware reads once (whether Django saves every session, whether a
    RedtrustBackend can have logged a Django user in) are read again when they change."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    assert not DjangoStore.saves(session)
    settings.SESSION_SAVE_EVERY_REQUEST = True
    assert DjangoStore.saves(session)
    settings.SESSION_SAVE_EVERY_REQUEST = False
    assert not DjangoStore.saves(session)
    session["x"] = 1  # modified: saved whatever the setting
    assert DjangoStore.saves(session)

    assert get_runtime().reconciles_users  # the example site signs Django users in
    kept = list(settings.AUTHENTICATION_BACKENDS)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert not get_runtime().reconciles_users
    settings.AUTHENTICATION_BACKENDS = kept
    assert get_runtime().reconciles_users
