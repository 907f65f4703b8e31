"""The browser flow through both example apps (Starlette and FastAPI) and the sandbox."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any, cast

import pytest
from tests.logscan import scan

from redtrust_middleware import (
    AsyncClient,
    AsyncSessionManager,
    Client,
    MemoryStore,
    SessionManager,
    StoreError,
)
from redtrust_middleware.sandbox import HostileKind
from redtrust_middleware.testing import FakeClock

from .conftest import (
    APPS,
    BAD_CALLBACKS,
    SIGNOUT_CASES,
    AwaitableManager,
    SignoutCase,
    Site,
    make_site,
    page_signout_token,
    path_of,
)

pytestmark = pytest.mark.anyio


async def test_sign_in_lands_on_next_signed_in(site: Site) -> None:
    done = await site.sign_in("/me?tab=1%2F2")
    assert done.status_code == 303
    assert done.headers["location"] == "/me?tab=1%2F2"  # byte for byte
    assert done.headers["referrer-policy"] == "no-referrer"
    assert done.headers["cache-control"] == "no-store"
    me = await site.browser.get("/me")
    assert me.status_code == 200
    assert "alice" in me.text
    assert me.headers["vary"] == "Cookie"
    api = await site.browser.get("/api/me")
    assert api.json()["user"] == "alice"


async def test_cookies_are_opaque_http_only_and_host_bound(site: Site) -> None:
    done = await site.sign_in()
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-redtrust_session="))
    for flag in ("Path=/", "HttpOnly", "SameSite=Lax", "Secure"):
        assert flag in session.split("; ")
    assert "Domain=" not in session
    handle = session.split(";", 1)[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", handle)  # 256 random bits, nothing else
    assert site.manager.client is not None
    tokens = (await site.manager.get(handle)).tokens  # type: ignore[union-attr]
    for secret in (tokens.access_token, tokens.refresh_token or "-"):
        assert all(secret not in c for c in cookies)
        page = await site.browser.get("/me")
        assert secret not in page.text
        assert secret not in (await site.browser.get("/api/me")).text


async def test_protected_pages_redirect_and_api_callers_get_401(site: Site) -> None:
    page = await site.browser.get("/me?x=1")
    assert page.status_code == 302
    assert page.headers["location"] == "/redtrust/login?next=%2Fme%3Fx%3D1"
    api = await site.browser.get("/api/me")
    assert api.status_code == 401
    assert site.browser.cookies.get("__Host-redtrust_session") is None
    assert "login_url" in api.text
    assert "www-authenticate" in api.headers
    fetch = await site.browser.get("/me", headers={"sec-fetch-mode": "cors"})
    assert fetch.status_code == 401
    accept = await site.browser.get("/me", headers={"accept": "application/json"})
    assert accept.status_code == 401


async def test_two_tabs_can_sign_in_in_parallel(site: Site) -> None:
    first = await site.start("/me?tab=1")
    second = await site.start("/me?tab=2")
    one = await site.browser.get(first)
    assert one.headers["location"] == "/me?tab=1"
    handle_one = site.session_cookie()
    two = await site.browser.get(second)
    assert two.headers["location"] == "/me?tab=2"
    assert site.session_cookie() != handle_one  # a new session id at each sign-in
    assert (await site.browser.get("/me")).status_code == 200
    assert await site.manager.get(handle_one) is None  # the replaced session is gone


async def test_a_replayed_callback_asks_to_sign_in_again(site: Site) -> None:
    callback = await site.start()
    await site.browser.get(callback)
    handle = site.session_cookie()
    again = await site.browser.get(callback)
    assert again.status_code == 400
    assert "Sign in again" in again.text
    assert "set-cookie" not in again.headers or "redtrust_session" not in again.headers.get(
        "set-cookie", ""
    )
    assert site.session_cookie() == handle
    assert (await site.browser.get("/me")).status_code == 200  # the session is unchanged
    assert site.sandbox.calls["exchange"] == 1


async def test_a_callback_without_a_login_started_here_is_refused(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await site.start()
    site.browser.cookies.clear()  # a victim's browser that never started this login
    answer = await site.browser.get(callback)
    assert answer.status_code == 400
    assert site.sandbox.calls["exchange"] == 0
    assert site.session_cookie() is None
    # Why, where a fresh project shows it (WARNING), and the likeliest fix.
    (logged,) = [r for r in caplog.records if "callback refused" in r.getMessage()]
    assert logged.levelno == logging.WARNING
    assert "NO_PENDING_LOGIN" in logged.getMessage()
    for text in (logged.getMessage(), html.unescape(answer.text)):
        assert "open the app at https://app.test" in text
        assert "REDTRUST_PUBLIC_URL" in text


async def test_a_sign_in_started_at_another_host_says_why_its_callback_fails(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    # The browser opened www.app.test: its login cookie is kept for that host, and Redtrust
    # sends it back to PUBLIC_URL's (app.test), where it has none.
    caplog.set_level(logging.INFO, logger="redtrust_middleware")
    start = await site.browser.get("https://www.app.test/redtrust/login?next=%2Fme")
    callback = path_of(await site.follow_to_redtrust(start))
    answer = await site.browser.get(callback)
    assert answer.status_code == 400
    assert site.sandbox.calls["exchange"] == 0
    told = (
        "This browser opened the app at https://www.app.test but REDTRUST_PUBLIC_URL is "
        "https://app.test"
    )
    # The page says what to check; the remembered host is only in the log (any client can
    # start a login with a made-up Host, and the page must not send a user there).
    page = html.unescape(answer.text)
    assert "open the app at https://app.test" in page
    assert "www.app.test" not in page
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("started at another address" in w and told in w for w in warnings)
    (refused,) = [w for w in warnings if "callback refused (NO_PENDING_LOGIN)" in w]
    assert "A sign-in started recently at https://www.app.test" in refused
    assert "set REDTRUST_PUBLIC_URL to https://www.app.test" in refused


async def test_a_made_up_host_is_never_shown_to_another_user_nor_floods_the_log(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    # Anyone can start logins with made-up Host headers: another user's refused callback
    # must not tell them to open those, and the log warns for a bounded number of hosts.
    for n in range(100):
        start = await site.browser.get(
            "/redtrust/login", headers={"host": f"redtrust-help-{n}.evil.test"}
        )
        assert start.status_code == 302
    started = [r for r in caplog.records if "started at another address" in r.getMessage()]
    assert 0 < len(started) <= 32
    callback = await site.start()
    site.browser.cookies.clear()  # the victim's browser: no pending login
    answer = await site.browser.get(callback)
    assert answer.status_code == 400
    page = html.unescape(answer.text)
    assert "evil.test" not in page
    assert "open the app at https://app.test" in page


@pytest.mark.parametrize("app", sorted(APPS))
async def test_a_sign_in_started_at_another_name_of_this_machine_moves_to_public_url(
    app: str,
) -> None:
    site, _ = make_site(APPS[app], public_url="http://127.0.0.1:8000")
    object.__setattr__(site.sandbox.config, "redirect_prefixes", ("http://127.0.0.1:8000/",))
    async with site.browser:
        moved = await site.browser.get("http://localhost:8000/redtrust/login?next=%2Fme")
        assert moved.status_code == 302
        assert moved.headers["location"] == "http://127.0.0.1:8000/redtrust/login?next=%2Fme"
        assert "set-cookie" not in moved.headers  # nothing started at the wrong host
        start = await site.browser.get(moved.headers["location"])
        assert start.status_code == 302
        assert "RedirectUrl=http%3A%2F%2F127.0.0.1%3A8000%2F" in start.headers["location"]
        callback = await site.follow_to_redtrust(start)
        done = await site.browser.get(callback)
        assert done.status_code == 303
        assert done.headers["location"] == "/me"
        # Another port may be another server: the login is not moved there.
        elsewhere = await site.browser.get("http://localhost:8001/redtrust/login")
        assert "/authclient/auth/loginrequest?" in elsewhere.headers["location"]


@pytest.mark.parametrize("mangle", BAD_CALLBACKS.values(), ids=BAD_CALLBACKS.keys())
async def test_bad_callbacks_are_400_and_change_nothing(site: Site, mangle: object) -> None:
    callback = await site.start()
    assert callable(mangle)
    answer = await site.browser.get(mangle(callback))
    assert answer.status_code == 400
    assert "<script>" not in answer.text
    assert site.sandbox.calls["exchange"] == 0
    assert site.session_cookie() is None
    done = await site.browser.get(callback)  # the pending login is still there
    assert done.status_code == 303


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        " //evil.example",
        "/\t/evil.example",
        "http:evil.example",
        "//evil.example/%2F..",
        "\uff0f\uff0fevil.example",  # fullwidth solidus
    ],
)
async def test_next_never_leaves_the_site(site: Site, next_url: str) -> None:
    done = await site.sign_in(next_url)
    assert done.status_code == 303
    assert done.headers["location"] == "/"


async def test_the_token_is_refreshed_before_it_expires(site: Site) -> None:
    await site.sign_in()
    before = (await site.browser.get("/api/me")).json()["token_expires_at"]
    site.clock.advance(250)
    after = await site.browser.get("/api/me")
    assert after.json()["token_expires_at"] != before
    assert after.json()["refreshed_now"] == "true"
    assert site.sandbox.calls["refresh"] == 1


async def test_fifty_concurrent_requests_refresh_once(site: Site) -> None:
    await site.sign_in()
    site.clock.advance(310)
    site.sandbox.latency = 0.05
    answers = await asyncio.gather(*(site.browser.get("/api/me") for _ in range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    assert len({a.json()["token_expires_at"] for a in answers}) == 1
    assert site.sandbox.calls["refresh"] == 1


async def test_redtrust_down_is_a_clear_503_and_the_session_survives(site: Site) -> None:
    await site.sign_in()
    site.clock.advance(400)
    site.sandbox.fail_next(1, 503, endpoint="refresh")
    page = await site.browser.get("/me")
    assert page.status_code == 503
    assert "try again" in page.text
    assert page.headers["retry-after"].isdigit()
    api = await site.browser.get("/api/me")
    assert api.status_code == 503
    assert api.json() == {"error": "redtrust_unavailable"}
    public = await site.browser.get("/")
    assert public.status_code == 200  # public pages are unaffected
    site.clock.advance(6)
    assert (await site.browser.get("/me")).status_code == 200


async def test_logout_needs_a_post_from_this_site(site: Site) -> None:
    await site.sign_in()
    confirm = await site.browser.get("/redtrust/logout")
    assert confirm.status_code == 200
    assert "method=post" in confirm.text
    assert (await site.browser.get("/me")).status_code == 200
    cross = await site.browser.post("/redtrust/logout", headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert (await site.browser.get("/me")).status_code == 200
    out = await site.browser.post("/redtrust/logout", headers={"origin": "https://app.test"})
    assert out.status_code == 303
    assert out.headers["location"] == "/"
    assert (await site.browser.get("/me")).status_code == 302


async def test_library_pages_cannot_be_framed(site: Site) -> None:
    page = await site.browser.get("/redtrust/logout")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_requests_without_a_session_cookie_touch_no_store(site: Site) -> None:
    reads = []
    store: Any = site.manager.store
    original, original_sync = store.aget, store.get

    async def counting(key: str) -> bytes | None:
        reads.append(key)
        return await original(key)  # type: ignore[no-any-return]

    def counting_sync(key: str) -> bytes | None:  # the WSGI face's sync manager
        reads.append(key)
        return original_sync(key)  # type: ignore[no-any-return]

    store.aget = counting
    store.get = counting_sync
    await site.browser.get("/")
    await site.browser.get("/api/me")
    assert reads == []
    await site.sign_in()
    await site.browser.get("/api/me")
    assert reads  # the counting sees the face's reads: the empty list above means something


async def test_no_token_reaches_the_logs(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    callback = await site.start()
    tkn = callback.rsplit("tkn=", 1)[1]
    await site.browser.get(callback)
    handle = site.session_cookie()
    session = await site.manager.get(handle)
    assert session is not None
    site.clock.advance(250)
    await site.browser.get("/api/me")
    await site.browser.get(callback)  # a replay, refused
    # The library's own log lines (the test's browser logs its URLs, tkn included).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("redtrust"))
    assert "callback refused" in text
    secrets = (tkn, handle, session.tokens.access_token, session.tokens.refresh_token)
    # Messages, their arguments and every field given with extra=.
    assert scan(caplog.records, [s for s in secrets if s]) > 0


async def test_a_refresh_answer_too_late_sends_the_user_to_sign_in_once() -> None:
    from .conftest import APPS, make_site

    # 0.6 s: the sign-in's own exchange must answer in time on a busy machine.
    site, _ = make_site(APPS["starlette"], timeout=0.6, refresh_timeout=0.6, connect_retries=0)
    async with site.browser:
        await site.sign_in()
        site.clock.advance(400)  # expired: the refresh is needed now
        site.sandbox.latency = 1.2  # and its answer comes after the timeout
        page = await site.browser.get("/me")
        site.sandbox.latency = 0
        assert page.status_code == 302
        assert page.headers["location"].startswith(site.config.login_path)
        assert site.session_cookie() is None  # signed out here: no loop
        assert (await site.browser.get("/me")).status_code == 302
        assert site.sandbox.calls["refresh"] == 1
        assert site.sandbox.calls["refresh_reuse"] == 0


async def test_the_public_page_knows_who_is_signed_in(site: Site) -> None:
    assert "/me" in (await site.browser.get("/")).text
    await site.sign_in()
    assert "Hello alice" in (await site.browser.get("/")).text


async def test_pending_logins_per_browser_are_capped(site: Site) -> None:
    callbacks = [await site.start(f"/me?tab={i}") for i in range(7)]
    cookie = site.browser.cookies.get("__Host-redtrust_login") or ""
    assert len(cookie.split(".")) == site.config.max_pending_logins
    oldest = await site.browser.get(callbacks[0])
    assert oldest.status_code == 400  # evicted from this browser: start again
    newest = await site.browser.get(callbacks[-1])
    assert newest.headers["location"] == "/me?tab=6"


async def test_redirect_url_comes_from_config_never_from_host(site: Site) -> None:
    start = await site.browser.get("/redtrust/login", headers={"host": "app.test:@evil.example"})
    assert "RedirectUrl=https%3A%2F%2Fapp.test%2Fredtrust%2Fcallback" in start.headers["location"]
    assert "evil" not in start.headers["location"]


@pytest.mark.parametrize(
    "cookie",
    [
        "__Host-redtrust_session={h}; __Host-redtrust_session={h}",  # tossed duplicate
        "a=" + "x" * 9000 + "; __Host-redtrust_session={h}",  # oversized header
        "other=__Host-redtrust_session",  # the name as a value
    ],
    ids=["duplicate", "oversized", "name-as-value"],
)
async def test_odd_cookie_headers_never_sign_in_nor_clear(site: Site, cookie: str) -> None:
    await site.sign_in()
    handle = site.session_cookie() or ""
    answer = await site.browser.get("/api/me", headers={"cookie": cookie.format(h=handle)})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("kind", ["bad-expiration", "wrong-types", "no-envelope", "html"])
async def test_a_hostile_exchange_answer_is_a_502_not_a_crash(
    site: Site, kind: HostileKind
) -> None:
    callback = await site.start()
    site.sandbox.misbehave_next(kind, endpoint="exchange")
    answer = await site.browser.get(callback)
    assert answer.status_code == 502
    assert "Sign in again" in answer.text
    assert site.session_cookie() is None


async def test_user_names_are_escaped_on_every_page(site: Site) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    callback = await site.start()
    state = callback.split("state=", 1)[1].split("&", 1)[0]
    token = site.sandbox.issue_temp_token(hostile)
    answer = await site.browser.get(f"/redtrust/callback?state={state}&tkn={token}")
    assert answer.status_code == 303
    for path in ("/", "/me"):
        text = (await site.browser.get(path)).text
        assert hostile not in text
        assert "&lt;img" in text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/redtrust/login", "GET"),
        ("HEAD", "/redtrust/login", "GET"),
        ("POST", "/redtrust/callback", "GET"),
        ("PUT", "/redtrust/logout", "GET, HEAD, POST"),
    ],
)
async def test_wrong_methods_get_405_with_allow(
    site: Site, method: str, path: str, allow: str
) -> None:
    answer = await site.browser.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert site.browser.cookies.get("__Host-redtrust_login") is None


@pytest.mark.parametrize("case", SIGNOUT_CASES.values(), ids=SIGNOUT_CASES.keys())
async def test_signout_needs_proof_it_came_from_this_site(site: Site, case: SignoutCase) -> None:
    await site.sign_in()
    token = page_signout_token((await site.browser.get("/redtrust/logout")).text)
    query, body, content_type = case.body(token)
    headers = {**case.headers, "content-type": content_type}
    out = await site.browser.post("/redtrust/logout" + query, content=body, headers=headers)
    assert out.status_code == case.status, out.text
    after = await site.browser.get("/me")
    assert after.status_code == (302 if case.status == 303 else 200)


async def test_the_apps_signout_button_carries_the_sessions_token(site: Site) -> None:
    await site.sign_in()
    me = (await site.browser.get("/me")).text
    assert page_signout_token(me) == page_signout_token(
        (await site.browser.get("/redtrust/logout")).text
    )
    other = site  # a second sign-in in this browser is a new session with a new token
    await other.sign_in()
    assert page_signout_token((await site.browser.get("/me")).text) != page_signout_token(me)


async def test_the_context_offers_a_client_bound_to_the_user() -> None:
    from redtrust_middleware import RA_API, AsyncUserClient

    from .conftest import APPS, make_site

    site, _ = make_site(APPS["starlette"], profile=RA_API)
    async with site.browser:
        await site.sign_in()
        handle = site.session_cookie()
        session = await site.manager.get(handle)
        assert session is not None
        context = await _context_of(site)
        assert isinstance(context.client, AsyncUserClient)
        assert context.client.authorization == f"Bearer {session.tokens.access_token}"
        assert session.tokens.access_token not in repr(context.client)
        assert context.client.tokens == session.tokens


async def _context_of(site: Site) -> Any:
    """The context the middleware publishes for the browser's current session."""
    from redtrust_middleware.web import Gate

    gate = Gate(site.config, client=site.manager.client)
    session = await site.manager.get(site.session_cookie())
    return gate.after_load(session).context


@pytest.mark.parametrize(("leeway", "told"), [(None, True), (30.0, False)])
async def test_tokens_that_live_no_longer_than_the_leeway_are_told_once(
    leeway: float | None, told: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The sandbox's --access-ttl 60 with the default refresh_leeway of 60 s: every request
    # refreshes. Said once (not at each of the refreshes), naming both values and the fix.
    options: dict[str, Any] = {} if leeway is None else {"refresh_leeway": leeway}
    site, _ = make_site(APPS["starlette"], **options)
    object.__setattr__(site.sandbox.config, "access_token_ttl", 60)
    async with site.browser:
        await site.sign_in()
        for _ in range(5):
            site.clock.advance(31)
            assert (await site.browser.get("/api/me")).status_code == 200
    if leeway is None:
        assert site.sandbox.calls["refresh"] == 5  # the waste the warning is about
    said = [r for r in caplog.records if "refresh_leeway" in r.getMessage()]
    if not told:
        assert said == []
        return
    (record,) = said
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "live 60 s" in text
    assert "of 60 s" in text
    assert "REDTRUST_REFRESH_LEEWAY" in text
    assert "--access-ttl" in text


async def _other_worker(site: Site) -> Any:
    """A second worker's session manager over the site's store (another process's, as two
    workers behind one store are); its ``get`` and ``logout`` awaited like the site's."""
    store: Any = site.manager.store
    clock = site.clock
    if isinstance(site.manager, AwaitableManager):
        client = Client(site.config, transport=site.sandbox.transport(), clock=clock)
        return SessionManager(site.config, store=store, client=client, clock=clock)
    aclient = AsyncClient(site.config, transport=site.sandbox.async_transport(), clock=clock)
    return AsyncSessionManager(site.config, store=store, client=aclient, clock=clock)


async def _call(manager: Any, name: str, *args: Any) -> Any:
    result = getattr(manager, name)(*args)
    return await result if asyncio.iscoroutine(result) else result


async def test_what_another_worker_changes_is_seen_on_the_very_next_request(site: Site) -> None:
    """A signed-in request answered as the one before (the same Cookie header) still
    follows the store: a refresh and then a logout made by another worker are what the
    very next request sees."""
    await site.sign_in()
    handle = site.session_cookie()
    assert handle is not None
    other = await _other_worker(site)
    reads: list[str] = []
    store: Any = site.manager.store
    original, original_sync = store.aget, store.get

    async def counting(key: str) -> bytes | None:
        reads.append(key)
        return await original(key)  # type: ignore[no-any-return]

    def counting_sync(key: str) -> bytes | None:
        reads.append(key)
        return original_sync(key)  # type: ignore[no-any-return]

    try:
        seen = [(await site.browser.get("/api/me")).json()]
        store.aget, store.get = counting, counting_sync
        seen += [(await site.browser.get("/api/me")).json() for _ in range(2)]
        assert reads == []  # answered in this process, as the request before
        store.aget, store.get = original, original_sync
        assert len({page["token_expires_at"] for page in seen}) == 1
        site.clock.advance(250)  # due for refresh: the other worker refreshes first
        refreshed = await _call(other, "get", handle)
        assert refreshed is not None
        assert site.sandbox.calls["refresh"] == 1
        after = (await site.browser.get("/api/me")).json()
        assert after["token_expires_at"] != seen[0]["token_expires_at"]
        assert after["refreshed_now"] == "false"  # this worker made no refresh of its own
        assert (await site.browser.get("/api/me")).json() == after
        assert site.sandbox.calls["refresh"] == 1
        await _call(other, "logout", handle)
        assert (await site.browser.get("/api/me")).status_code == 401
    finally:
        await _call(other, "aclose" if hasattr(other, "aclose") else "close")


class _FailingLocalReads(MemoryStore):
    """A store whose local read fails once ``failing`` is set (a cache with a fault)."""

    failing = False

    def read_local(self, key: str) -> Any:
        if self.failing:
            raise StoreError("the local copy is unavailable")
        return super().read_local(key)


@pytest.mark.parametrize("clock", ["own clock", "site's clock"])
@pytest.mark.parametrize("name", sorted(APPS))
async def test_a_failing_local_read_is_a_clear_503_not_a_crash(name: str, clock: str) -> None:
    """Also when the store shares the site's clock: a subclass's own read_local is asked on
    every request, never bypassed by the in-process store's quicker check."""
    store = _FailingLocalReads() if clock == "own clock" else None
    site, _ = make_site(
        APPS[name], store=store if store is not None else lambda now: _FailingLocalReads(clock=now)
    )
    store = cast("_FailingLocalReads", site.manager.store)
    async with site.browser:
        await site.sign_in()
        for _ in range(2):  # the second is served as the first was, from the local read
            assert (await site.browser.get("/api/me")).status_code == 200
        store.failing = True
        answer = await site.browser.get("/api/me")
        assert answer.status_code == 503
        assert answer.json() == {"error": "store_unavailable"}
        assert (await site.browser.get("/")).status_code == 200  # public pages still answer
        store.failing = False
        assert (await site.browser.get("/api/me")).status_code == 200  # nothing was lost


@pytest.mark.parametrize("name", sorted(APPS))
async def test_long_cookie_headers_are_answered_but_not_remembered(name: str) -> None:
    site, app = make_site(APPS[name])
    async with site.browser:
        await site.sign_in()
        site.browser.cookies.set("padding", "x" * 1500, domain="app.test")
        for _ in range(3):
            assert (await site.browser.get("/api/me")).status_code == 200
        gate = _gate_of(app)
        assert all(len(key) <= 1024 for key in gate._served)  # bounded as the handle memo


@pytest.mark.parametrize("name", sorted(APPS))
async def test_a_store_on_a_clock_of_its_own_is_followed_past_its_deadlines(name: str) -> None:
    """A request answered as the one before still ends when the store's own clock says the
    record expired, though the manager's clock says the token is fresh."""
    store_clock = FakeClock()
    site, _ = make_site(APPS[name], store=MemoryStore(clock=store_clock))
    async with site.browser:
        await site.sign_in()
        for _ in range(2):
            assert (await site.browser.get("/api/me")).status_code == 200
        store_clock.advance(30 * 86_400)  # past any session lifetime, on the store's clock
        assert (await site.browser.get("/api/me")).status_code == 401


def _gate_of(app: Any) -> Any:
    """The Gate behind an example app (whatever framework wraps the middleware)."""
    seen: set[int] = set()
    todo = [app]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        gate = getattr(obj, "gate", None)
        if gate is not None and hasattr(gate, "_served"):
            return gate
        for attr in ("app", "middleware_stack", "wsgi_app", "_app", "application"):
            inner = getattr(obj, attr, None)
            if inner is not None:
                todo.append(inner)
    raise AssertionError(f"no gate found in {app!r}")
