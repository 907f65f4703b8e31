"""The browser flow through the example Django site and the sandbox, under WSGI and ASGI."""

from __future__ import annotations

import asyncio
import gc
import html
import json
import logging
import threading
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.cache import SessionStore
from django.db import connections
from tests.web.conftest import BAD_CALLBACKS, SIGNOUT_CASES, SignoutCase, page_signout_token
from werkzeug.datastructures import WWWAuthenticate

from redtrust_django import store as django_store
from redtrust_django.signals import redtrust_logged_in
from redtrust_django.store import SESSION_KEY
from redtrust_middleware.logfilter import RedactCallbackQuery

from . import urls_session_writes as app
from .conftest import ORIGIN, PAGE, DjangoSite


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.content)
    return data


def test_sign_in_lands_on_next_signed_in(dsite: DjangoSite) -> None:
    done = dsite.sign_in("/me?tab=1%2F2")
    assert done.status_code == 303
    assert done["location"] == "/me?tab=1%2F2"
    assert done["referrer-policy"] == "no-referrer"
    assert done["cache-control"] == "no-store"
    me = dsite.get("/me")
    assert me.status_code == 200
    assert b"alice" in me.content
    assert _json(dsite.get("/api/me"))["user"] == "alice"  # an async view


def test_the_session_id_is_cycled_at_sign_in_and_flushed_at_sign_out(dsite: DjangoSite) -> None:
    assert dsite.get("/").status_code == 200
    callback = dsite.start()
    before = dsite.session_id()  # the session that holds the pending login
    assert before is not None
    dsite.get(callback)
    signed_in = dsite.session_id()
    assert signed_in not in (None, before)
    assert not SessionStore().exists(before)  # no fixation: the old id is gone
    out = dsite.post("/redtrust/logout", ORIGIN)
    assert out.status_code == 303
    assert dsite.session_id() != signed_in
    assert not SessionStore().exists(signed_in or "-")
    assert dsite.get("/me").status_code == 302


def test_no_token_reaches_the_browser_or_the_session_in_clear(dsite: DjangoSite) -> None:
    seen: list[Any] = []

    def on_login(**kwargs: Any) -> None:
        seen.append(kwargs["context"].tokens)

    redtrust_logged_in.connect(on_login, weak=False)
    try:
        done = dsite.sign_in()
    finally:
        redtrust_logged_in.disconnect(on_login)
    session = SessionStore(session_key=dsite.session_id())
    stored = json.dumps(session.load())
    (refresh,) = [s.refresh_token for s in dsite.sandbox.sessions_for("alice")]
    assert len(seen) == 1
    for secret in (seen[0].access_token, refresh):
        assert secret not in stored
        assert secret not in str(done.cookies)
        assert secret.encode() not in dsite.get("/me").content
    assert SESSION_KEY in session.load()


def test_protected_pages_redirect_and_api_callers_get_401(dsite: DjangoSite) -> None:
    page = dsite.get("/me?x=1", PAGE)
    assert page.status_code == 302
    assert page["location"] == "/redtrust/login?next=%2Fme%3Fx%3D1"
    api = dsite.get("/api/me")
    assert api.status_code == 401
    assert _json(api) == {
        "error": "not_authenticated",
        "login_url": "/redtrust/login?next=%2Fapi%2Fme",
    }
    # The challenge names the cookie the sign-in really travels in: Django's session cookie.
    challenge = WWWAuthenticate.from_header(api["www-authenticate"])
    assert challenge is not None
    assert challenge.type == "cookie"
    assert challenge.parameters["cookie-name"] == django_settings.SESSION_COOKIE_NAME
    assert dsite.get("/me", {"accept": "application/json"}).status_code == 401


def test_two_tabs_can_sign_in_in_parallel(dsite: DjangoSite) -> None:
    first = dsite.start("/me?tab=1")
    second = dsite.start("/me?tab=2")
    assert dsite.get(first)["location"] == "/me?tab=1"
    assert dsite.get(second)["location"] == "/me?tab=2"
    assert dsite.get("/me").status_code == 200


def test_a_replayed_callback_asks_to_sign_in_again(dsite: DjangoSite) -> None:
    callback = dsite.start()
    dsite.get(callback)
    session = dsite.session_id()
    again = dsite.get(callback)
    assert again.status_code == 400
    assert b"Sign in again" in again.content
    assert dsite.session_id() == session
    assert dsite.get("/me").status_code == 200
    assert dsite.sandbox.calls["exchange"] == 1


def test_a_callback_without_a_login_started_here_is_refused(dsite: DjangoSite) -> None:
    callback = dsite.start()
    victim = dsite.fresh_browser()
    answer = victim.get(callback)
    assert answer.status_code == 400
    assert dsite.sandbox.calls["exchange"] == 0
    assert victim.get("/me").status_code == 302


def test_a_sign_in_started_at_another_host_says_why_its_callback_fails(
    dsite: DjangoSite, caplog: pytest.LogCaptureFixture
) -> None:
    # Django's test client opens the site as testserver; PUBLIC_URL says https://app.test,
    # where Redtrust sends a browser back without its session cookie for testserver.
    callback = dsite.start()
    answer = dsite.fresh_browser().get(callback)
    assert answer.status_code == 400
    told = (
        "This browser opened the app at http://testserver but REDTRUST_PUBLIC_URL is "
        "https://app.test"
    )
    assert told in html.unescape(answer.content.decode())
    refused = [r for r in caplog.records if "callback refused" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.WARNING]  # shown in a fresh project
    assert told in refused[0].getMessage()


def test_runserver_access_log_lines_lose_tkn_and_state(dsite: DjangoSite) -> None:
    # The app installs the filter on django.server; the record as runserver logs it.
    callback = dsite.start()
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s',
        (f"GET {callback} HTTP/1.1", "400", "512"), None,
    )  # fmt: skip
    filters = logging.getLogger("django.server").filters
    assert any(isinstance(f, RedactCallbackQuery) for f in filters)
    assert all(f.filter(record) for f in filters if isinstance(f, logging.Filter))
    line = record.getMessage()
    assert "tkn=[redacted]" in line
    assert "state=[redacted]" in line
    assert callback.rsplit("tkn=", 1)[1] not in line


@pytest.mark.parametrize("mangle", BAD_CALLBACKS.values(), ids=BAD_CALLBACKS.keys())
def test_bad_callbacks_are_400_and_change_nothing(
    dsite: DjangoSite, mangle: Callable[[str], str]
) -> None:
    callback = dsite.start()
    answer = dsite.get(mangle(callback))
    assert answer.status_code == 400
    assert b"<script>" not in answer.content
    assert dsite.sandbox.calls["exchange"] == 0
    assert dsite.get("/me").status_code == 302
    assert dsite.get(callback).status_code == 303  # the pending login is still there


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        "/\t/evil.example",
        "http:evil.example",
    ],
)
def test_next_never_leaves_the_site(dsite: DjangoSite, next_url: str) -> None:
    done = dsite.sign_in(next_url)
    assert done.status_code == 303
    assert done["location"] == "/"


def test_the_token_is_refreshed_before_it_expires(dsite: DjangoSite) -> None:
    dsite.sign_in()
    before = _json(dsite.get("/api/me"))["token_expires_at"]
    dsite.clock.advance(250)
    after = _json(dsite.get("/api/me"))
    assert after["token_expires_at"] != before
    assert after["refreshed_now"] == "true"
    assert dsite.sandbox.calls["refresh"] == 1
    again = _json(dsite.get("/me/".rstrip("/").replace("/me", "/api/me")))
    assert again["token_expires_at"] == after["token_expires_at"]  # saved in the session
    assert dsite.sandbox.calls["refresh"] == 1


def _count_session_writes(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every save of a Django session from now on (the session engine's ``save``)."""
    engine: Any = import_module(django_settings.SESSION_ENGINE).SessionStore
    writes: list[str | None] = []
    save = engine.save

    def counted(self: Any, must_create: bool = False) -> None:
        writes.append(self.session_key)
        save(self, must_create)

    monkeypatch.setattr(engine, "save", counted)
    return writes


def _browse_at_once(dsite: DjangoSite, tabs: list[DjangoSite], path: str) -> list[Any]:
    """``GET path`` from every tab at once: gathered on one event loop under ASGI, one
    thread per request under WSGI (released together)."""
    answers: list[Any] = [None] * len(tabs)
    if dsite.mode == "asgi":  # one event loop, as under an ASGI server

        async def browse_all() -> None:
            answers[:] = await asyncio.gather(*(t.client.get(path) for t in tabs))

        async_to_sync(browse_all)()
        return answers
    start = threading.Barrier(len(tabs))

    def browse(index: int) -> None:
        start.wait()
        answers[index] = tabs[index].get(path)

    threads = [threading.Thread(target=_closing(browse), args=(i,)) for i in range(len(tabs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _closing(target: Callable[..., None]) -> Callable[..., None]:
    """``target``, then closing the database connections its thread opened: Django's test
    client keeps connections open after a request (it disconnects close_old_connections),
    and a thread's connection left to the garbage collector is a ResourceWarning (an error
    here) whenever the collector happens to run."""

    def run(*args: Any) -> None:
        try:
            target(*args)
        finally:
            connections.close_all()

    return run


# Signed in at 0 with a 300 s token, a 60 s refresh leeway and a 1800 s idle timeout: at
# 310 the token has expired (one refresh), at 200 the idle time wants extending (one
# touch), at 10 nothing is due (no write at all).
@pytest.mark.parametrize(
    ("later", "refreshes", "writes"),
    [(310, 1, 1), (200, 0, 1), (10, 0, 0)],
    ids=["expired", "idle", "fresh"],
)
def test_concurrent_requests_write_the_session_only_for_what_changed(
    dsite: DjangoSite, monkeypatch: pytest.MonkeyPatch, later: int, refreshes: int, writes: int
) -> None:
    dsite.sign_in()
    dsite.clock.advance(later)
    dsite.sandbox.latency = 0.05
    saved = _count_session_writes(monkeypatch)
    tabs = [dsite.same_browser() for _ in range(40)]
    answers = _browse_at_once(dsite, tabs, "/api/me")
    assert [a.status_code for a in answers] == [200] * len(tabs)
    assert len({_json(a)["token_expires_at"] for a in answers}) == 1
    assert dsite.sandbox.calls["refresh"] == refreshes
    assert saved == [dsite.session_id()] * writes
    assert dsite.get("/me").status_code == 200  # nobody was signed out
    assert dsite.get("/api/me").status_code == 200
    assert dsite.sandbox.calls["refresh"] == refreshes
    assert len(saved) == writes  # and the requests after it read what was saved


@pytest.mark.parametrize("served", [False, True], ids=["first-request", "served-as-before"])
def test_a_late_save_of_app_data_keeps_the_refreshed_tokens(
    dsite: DjangoSite, settings: Any, served: bool
) -> None:
    """Django saves a session whole, from each request's copy: a request that read the
    session before a refresh and saves its own data after it keeps the refreshed records,
    also when it was served as the request before it (no store built for its read)."""
    settings.ROOT_URLCONF = app.__name__
    app.HOLDUP = app.Holdup()
    dsite.sign_in()
    if served:
        assert dsite.get("/api/me").status_code == 200  # remembered: the next is served so
    dsite.clock.advance(100)  # nothing due yet when the slow request reads the session
    slow: list[Any] = []
    reader = threading.Thread(
        target=_closing(lambda: slow.append(dsite.same_browser().get("/write-late")))
    )
    reader.start()
    try:
        assert app.HOLDUP.reached.wait(10)
        dsite.clock.advance(150)  # due now: another request refreshes and saves
        refreshed = _json(dsite.same_browser().get("/api/me"))
        assert refreshed["refreshed_now"] == "true"
        engine: Any = import_module(settings.SESSION_ENGINE).SessionStore
        after_refresh = engine(dsite.session_id()).load()[SESSION_KEY]
    finally:
        app.HOLDUP.go.set()
        reader.join(10)
    assert slow[0].status_code == 200
    stored = engine(dsite.session_id()).load()
    assert stored["cart"] == "apples"
    assert stored[SESSION_KEY] == after_refresh
    again = _json(dsite.get("/api/me"))
    assert again["token_expires_at"] == refreshed["token_expires_at"]
    assert dsite.sandbox.calls["refresh"] == 1


@pytest.mark.parametrize("lost", ["answered 502", "save refused"])
def test_a_refresh_whose_save_was_lost_is_saved_by_a_later_request(
    dsite: DjangoSite, settings: Any, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """The request that refreshed did not save its session: the requests after it are
    served the refreshed tokens (from the grace record) and one of them saves them: the
    next one after a 5xx (Django saves no 5xx; its claim is released), the first after its
    claim lapsed when the save itself failed. Nobody is signed out, and the rotated refresh
    token never reaches Redtrust again."""
    settings.ROOT_URLCONF = app.__name__
    dsite.sign_in()
    dsite.clock.advance(250)
    engine: Any = import_module(django_settings.SESSION_ENGINE).SessionStore
    before = engine(dsite.session_id()).load()[SESSION_KEY]
    if lost == "answered 502":
        assert dsite.get("/broken").status_code == 502
    else:
        monkeypatch.setattr(django_store, "_REPLACE_CLAIM_SECONDS", 1)
        with monkeypatch.context() as failing:

            def refused(self: Any, must_create: bool = False) -> None:
                raise UpdateError

            failing.setattr(engine, "save", refused)
            assert dsite.get("/api/me").status_code == 400  # Django's SessionInterrupted
    assert dsite.sandbox.calls["refresh"] == 1
    assert engine(dsite.session_id()).load()[SESSION_KEY] == before  # not saved
    saved = _count_session_writes(monkeypatch)
    deadline = time.monotonic() + 10
    expires: list[str] = []
    while not saved:  # each answer is served meanwhile, with the refreshed token
        assert time.monotonic() < deadline, "the refreshed tokens were never saved"
        answer = dsite.get("/api/me")
        assert answer.status_code == 200
        expires.append(_json(answer)["token_expires_at"])
        if not saved:
            threading.Event().wait(0.05)
    assert len(saved) == 1
    if lost == "answered 502":
        assert len(expires) == 1  # the very next request saved it
    assert engine(dsite.session_id()).load()[SESSION_KEY] != before
    assert len(set(expires)) == 1
    assert _json(dsite.get("/api/me"))["token_expires_at"] == expires[0]
    assert dsite.sandbox.calls["refresh"] == 1
    assert dsite.sandbox.calls["refresh_reuse"] == 0


def test_redtrust_down_is_a_clear_503_and_the_session_survives(dsite: DjangoSite) -> None:
    dsite.sign_in()
    dsite.clock.advance(400)
    dsite.sandbox.fail_next(1, 503, endpoint="refresh")
    page = dsite.get("/me", PAGE)
    assert page.status_code == 503
    assert b"try again" in page.content
    assert page["retry-after"].isdigit()
    api = dsite.get("/api/me")
    assert api.status_code == 503
    assert _json(api) == {"error": "redtrust_unavailable"}
    assert dsite.get("/").status_code == 200  # public pages are unaffected
    dsite.clock.advance(6)
    assert dsite.get("/me").status_code == 200


def test_logout_needs_a_post_from_this_site(dsite: DjangoSite) -> None:
    dsite.sign_in()
    confirm = dsite.get("/redtrust/logout")
    assert confirm.status_code == 200
    assert b"method=post" in confirm.content
    assert dsite.get("/me").status_code == 200
    cross = dsite.post("/redtrust/logout", {"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert dsite.get("/me").status_code == 200
    out = dsite.post("/redtrust/logout", ORIGIN)
    assert out.status_code == 303
    assert out["location"] == "/"
    assert dsite.get("/me").status_code == 302


@pytest.mark.parametrize("case", SIGNOUT_CASES.values(), ids=SIGNOUT_CASES.keys())
def test_signout_needs_proof_it_came_from_this_site(dsite: DjangoSite, case: SignoutCase) -> None:
    dsite.sign_in()
    token = page_signout_token(dsite.get("/redtrust/logout").content.decode())
    query, body, content_type = case.body(token)
    out = dsite.post("/redtrust/logout" + query, case.headers, body, content_type)
    assert out.status_code == case.status, out.content
    assert dsite.get("/me").status_code == (302 if case.status == 303 else 200)


def test_the_sites_signout_button_carries_the_sessions_token(dsite: DjangoSite) -> None:
    dsite.sign_in()
    me = dsite.get("/me").content.decode()
    confirm = dsite.get("/redtrust/logout").content.decode()
    assert page_signout_token(me) == page_signout_token(confirm)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "/redtrust/login", "GET"),
        ("post", "/redtrust/callback", "GET"),
    ],
)
def test_wrong_methods_get_405_with_allow(
    dsite: DjangoSite, method: str, path: str, allow: str
) -> None:
    answer = dsite.post(path, ORIGIN) if method == "post" else dsite.get(path)
    assert answer.status_code == 405
    assert answer["allow"] == allow


def test_a_hostile_exchange_answer_is_a_502_not_a_crash(dsite: DjangoSite) -> None:
    callback = dsite.start()
    dsite.sandbox.misbehave_next("not-json", endpoint="exchange")
    answer = dsite.get(callback)
    assert answer.status_code == 502
    assert b"Sign in again" in answer.content
    assert dsite.get("/me").status_code == 302


# Under ASGI the views of the two threads' requests run in asgiref's own threads, whose
# sqlite connections (a user is written at sign-in) are left to the garbage collector;
# Python 3.13 reports that as an unraisable ResourceWarning. It is the test's threads, not
# the library, and the assertions below are unchanged.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_two_concurrent_callbacks_exchange_once(dsite: DjangoSite) -> None:
    callback = dsite.start()
    dsite.sandbox.latency = 0.05
    tabs = [dsite.same_browser() for _ in range(2)]
    answers: list[Any] = [None, None]
    start = threading.Barrier(2)

    def visit(index: int) -> None:
        start.wait()
        answers[index] = tabs[index].get(callback)

    threads = [threading.Thread(target=_closing(visit), args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [303, 400]
    assert dsite.sandbox.calls["exchange"] == 1
    gc.collect()  # those connections go now, under this test's filters, not in the next test


def test_a_failing_session_engine_is_a_503_not_a_500(
    dsite: DjangoSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsite.sign_in()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the session database is down")

    monkeypatch.setattr(SessionStore, "load", broken)
    monkeypatch.setattr(SessionStore, "aload", broken)
    page = dsite.get("/me", PAGE)
    assert page.status_code == 503
    assert b"Sessions are unavailable" in page.content  # the store, not Redtrust
    api = dsite.get("/api/me", {"accept": "application/json"})
    assert _json(api) == {"error": "store_unavailable"}
    assert dsite.get("/").status_code == 200  # public pages still work
    assert dsite.get("/redtrust/login?next=/me").status_code == 503
    monkeypatch.undo()
    assert dsite.get("/me").status_code == 200  # nothing was lost


def test_a_failing_signal_receiver_does_not_undo_a_sign_in(dsite: DjangoSite) -> None:
    def explode(**kwargs: Any) -> None:
        raise RuntimeError("a receiver bug")

    redtrust_logged_in.connect(explode, weak=False)
    try:
        done = dsite.sign_in()
    finally:
        redtrust_logged_in.disconnect(explode)
    assert done.status_code == 303
    assert dsite.get("/me").status_code == 200
