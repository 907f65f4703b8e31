"""What only the WSGI face has to get right (PEP 3333); the shared web suites run the flow
against it as the "wsgi" app.

The environ is built by :func:`wsgiref.util.setup_testing_defaults` and each expected URL
comes from the standard library (``wsgiref.util.request_uri``, ``urllib.parse.quote``),
not from the middleware.
"""

from __future__ import annotations

import io
import json
import threading
import time
import wsgiref.util
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import pytest

from redtrust_middleware import (
    Client,
    ConfigurationError,
    MemoryStore,
    RedtrustWSGIMiddleware,
    SessionManager,
    StoreError,
    UpstreamError,
)
from redtrust_middleware.asgi import Refusal
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_USERS,
    FakeClock,
    make_config,
    make_sandbox,
)
from redtrust_middleware.web import MAX_FORM_BYTES, RedtrustContext, WebResponse

Environ = dict[str, Any]


@dataclass
class Answer:
    """What the server saw: every ``start_response`` call, and the body."""

    starts: list[tuple[str, list[tuple[str, str]], Any]] = field(default_factory=list)
    body: bytes = b""

    @property
    def status(self) -> int:
        return int(self.starts[-1][0].split()[0])

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.starts[-1][1] if k.lower() == name]


def environ(path: str = "/", **extra: Any) -> Environ:
    """A GET of ``path`` (the text of its percent-decoded bytes, as PEP 3333 hands it over)
    on https://app.test, the test app's public URL."""
    env: Environ = {"HTTP_HOST": "app.test", "wsgi.url_scheme": "https", "SERVER_PORT": "443"}
    env["PATH_INFO"] = path.encode("utf-8").decode("latin-1")
    env.update(extra)
    wsgiref.util.setup_testing_defaults(env)
    return env


def serve(app: Any, env: Environ, *, stop_after: int | None = None) -> Answer:
    """Run ``app`` as a server does: iterate the body, then ``close()`` it (PEP 3333)."""
    answer = Answer()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.starts.append((status, headers, exc_info))
        return lambda data: None

    result = app(env, start_response)
    try:
        for count, chunk in enumerate(result, 1):
            answer.body += chunk
            if stop_after is not None and count >= stop_after:
                break  # the client went away
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer


def hello(env: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    context = env["redtrust"]
    start_response("200 OK", [("content-type", "text/plain")])
    return [f"hello {context.subject if isinstance(context, RedtrustContext) else None}".encode()]


def middleware(app: Any = hello, **options: Any) -> RedtrustWSGIMiddleware:
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    config = make_config()
    client = Client(config, transport=sandbox.transport(), clock=clock)
    manager = SessionManager(config, store=MemoryStore(clock=clock), client=client, clock=clock)
    built = RedtrustWSGIMiddleware(app, config=config, manager=manager, **options)
    built.sandbox = sandbox  # type: ignore[attr-defined]
    return built


def test_a_configuration_without_public_url_is_refused_when_built() -> None:
    with pytest.raises(ConfigurationError) as refused:
        RedtrustWSGIMiddleware(hello, config=make_config(public_url=None))
    assert "public_url (REDTRUST_PUBLIC_URL): is required" in str(refused.value)


def test_routes_and_the_urls_sent_to_the_browser_live_below_script_name() -> None:
    app = middleware(protect=["/me", "/api/me"])
    page = environ("/me", SCRIPT_NAME="/app", QUERY_STRING="tab=1")
    answer = serve(app, page)
    assert answer.status == 302
    here = urlsplit(wsgiref.util.request_uri(page))
    next_url = quote(f"{here.path}?{here.query}", safe="")
    assert answer.header("location") == [f"/app/redtrust/login?next={next_url}"]
    assert next_url == "%2Fapp%2Fme%3Ftab%3D1"
    api = serve(app, environ("/api/me", SCRIPT_NAME="/app"))
    assert api.status == 401
    assert json.loads(api.body) == {
        "error": "not_authenticated",
        "login_url": "/app/redtrust/login?next=" + quote("/app/api/me", safe=""),
    }
    confirm = serve(app, environ("/redtrust/logout", SCRIPT_NAME="/app"))
    assert confirm.status == 200
    assert b'action="/app/redtrust/logout"' in confirm.body
    login = serve(app, environ("/redtrust/login", SCRIPT_NAME="/app"))
    assert login.status == 302  # served at the mount point: off to Redtrust
    assert login.header("location")[0].startswith("https://redtrust.test:8083/")


@pytest.mark.parametrize("script_name", ["//evil.example", "///evil.example/"])
def test_a_script_name_of_several_leading_slashes_sends_no_browser_off_the_site(
    script_name: str,
) -> None:
    app = middleware(protect=["/me"])
    for path in ("/me", "/redtrust/logout"):
        answer = serve(app, environ(path, SCRIPT_NAME=script_name))
        urls = answer.header("location") or [
            answer.body.decode().split('action="')[1].split('"')[0]
        ]
        assert [urlsplit(url).netloc for url in urls] == [""]  # a path of this site
        assert urls[0].startswith("/evil.example/redtrust/")


def test_a_non_ascii_path_is_read_as_pep_3333_hands_it_over() -> None:
    app = middleware(protect=["/café"])
    answer = serve(app, environ("/café/menu"))
    assert answer.status == 302  # "/café" guards it: the path is the UTF-8 of its bytes
    assert answer.header("location") == [
        "/redtrust/login?next=" + quote(quote("/café/menu"), safe="")
    ]
    assert serve(app, environ("/cafés")).status == 200  # whole segments only


class Input(io.BytesIO):
    """``wsgi.input`` that counts what was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


@pytest.mark.parametrize(
    ("length", "sent", "read"),
    [
        (str(MAX_FORM_BYTES + 1), MAX_FORM_BYTES + 1, 0),  # announced too large: untouched
        ("", 100, 0),  # no length: nothing read (PEP 3333)
        ("nonsense", 100, 0),
        ("\xb2", 100, 0),  # "²" as latin-1 (wsgiref passes the header as sent): not 1*DIGIT
        ("20", 5000, 20),  # never past CONTENT_LENGTH
        ("20", 5, 5),  # the client sent less than it said
    ],
)
def test_the_sign_out_body_is_read_only_as_far_as_needed(length: str, sent: int, read: int) -> None:
    stream = Input(b"a" * sent)
    post = environ("/redtrust/logout", REQUEST_METHOD="POST", CONTENT_LENGTH=length)
    post["wsgi.input"] = stream
    answer = serve(middleware(), post)
    assert answer.status == 403  # no proof it came from this site
    assert stream.taken == read


class Body:
    """An app's iterable with ``close()``, counting the calls."""

    def __init__(self, chunks: Iterable[bytes | Exception]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    def close(self) -> None:
        self.closed += 1


def streaming(body: Body) -> Callable[..., Iterable[bytes]]:
    def app(env: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return body

    return app


@pytest.mark.parametrize("stop_after", [None, 1])
def test_the_apps_iterable_is_closed_once_however_the_response_ends(
    stop_after: int | None,
) -> None:
    body = Body([b"one", b"two"])
    answer = serve(middleware(streaming(body)), environ("/"), stop_after=stop_after)
    assert answer.body == (b"one" if stop_after else b"onetwo")
    assert body.closed == 1


def test_the_apps_iterable_is_closed_when_the_server_closes_before_iterating() -> None:
    # PEP 3333: the server calls close() "whether the request was completed normally, or
    # terminated early"; a client gone before the first chunk means no iteration at all.
    body = Body([b"one"])
    result: Any = middleware(streaming(body))(environ("/"), lambda *args: lambda data: None)
    result.close()
    assert body.closed == 1


@pytest.mark.parametrize(
    ("error", "status"),
    [(StoreError("down"), 503), (UpstreamError("Redtrust is down"), 502)],
)
def test_a_redtrust_failure_before_the_first_byte_is_the_clear_error(
    error: Exception, status: int
) -> None:
    body = Body([b"", error])
    answer = serve(middleware(streaming(body)), environ("/", HTTP_ACCEPT="text/html"))
    assert [s[0].split()[0] for s in answer.starts] == ["200", str(status)]
    assert answer.starts[1][2][1] is error  # exc_info: the started 200 is replaced
    assert b"Traceback" not in answer.body
    assert body.closed == 1


def test_a_redtrust_failure_before_start_response_is_the_clear_error_without_exc_info() -> None:
    def failing(env: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise StoreError("down")

    answer = serve(middleware(failing), environ("/api/x"))
    assert answer.status == 503
    assert answer.starts[0][2] is None
    assert answer.body == b'{"error": "store_unavailable"}'


def test_a_failure_after_the_first_byte_is_raised_again() -> None:
    body = Body([b"partial", StoreError("down")])
    with pytest.raises(StoreError):
        serve(middleware(streaming(body)), environ("/"))
    assert body.closed == 1


def test_a_refusal_raised_by_the_app_is_sent() -> None:
    def refusing(env: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise Refusal(WebResponse(status=401, headers=(("content-type", "text/plain"),)))

    assert serve(middleware(refusing), environ("/")).status == 401


def signed_in(app: RedtrustWSGIMiddleware) -> httpx2.Client:
    browser = httpx2.Client(transport=httpx2.WSGITransport(app=app), base_url=TEST_APP_URL)
    start = browser.get("/redtrust/login", params={"next": "/"})
    sandbox = app.sandbox  # type: ignore[attr-defined]
    callback = sandbox.sign_in(start.headers["location"], "alice", TEST_USERS["alice"])
    assert browser.get(callback).status_code == 303
    return browser


def test_the_apps_response_keeps_its_headers_and_gains_vary_cookie() -> None:
    app = middleware()
    anonymous = serve(app, environ("/"))
    assert anonymous.header("vary") == []  # no session cookie: nothing to vary on
    browser = signed_in(app)
    page = browser.get("/")
    assert page.text == "hello alice"
    assert page.headers["content-type"] == "text/plain"
    assert page.headers["vary"] == "Cookie"
    malformed = serve(app, environ("/", HTTP_COOKIE="__Host-redtrust_session=not a handle"))
    assert malformed.header("vary") == ["Cookie"]
    (cleared,) = malformed.header("set-cookie")
    assert cleared.startswith("__Host-redtrust_session=;")
    assert "Max-Age=0" in cleared


def test_nothing_about_a_request_is_kept_on_the_middleware() -> None:
    app = middleware(protect=["/me"])
    before = dict(vars(app))
    browser = signed_in(app)
    assert browser.get("/me").status_code == 200
    browser.get("/redtrust/logout")
    serve(app, environ("/me", SCRIPT_NAME="/app"))
    assert vars(app) == before  # the same attributes, each the very same object


def test_threads_of_one_process_wait_for_one_refresh() -> None:
    """Twenty threads on one expiring session, all inside the middleware while the refresh
    is held at Redtrust: one refresh, twenty answers with the new token."""
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    config = make_config()
    held, release = threading.Event(), threading.Event()
    served = sandbox.transport()

    def redtrust(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/refresh-token"):
            held.set()
            release.wait(10)
        return served.handle_request(request)

    client = Client(config, transport=httpx2.MockTransport(redtrust), clock=clock)
    manager = SessionManager(config, store=MemoryStore(clock=clock), client=client, clock=clock)
    app = RedtrustWSGIMiddleware(hello, config=config, manager=manager)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    cookie = signed_in(app).cookies["__Host-redtrust_session"]
    clock.advance(290)  # 10 s left of 300: inside the refresh leeway
    page = environ("/", HTTP_COOKIE=f"__Host-redtrust_session={cookie}")
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=lambda: answers.append(serve(app, dict(page)))) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    assert held.wait(10)
    deadline = time.monotonic() + 10
    # every thread inside: one refreshing, the others waiting on its session's lock
    while sum(users for _, users in manager._locks._locks.values()) < 20:
        assert time.monotonic() < deadline, "the threads did not meet at the lock"
        threading.Event().wait(0.005)  # polling a condition, not waiting for time to pass
    release.set()
    for thread in threads:
        thread.join(10)
    assert [a.status for a in answers] == [200] * 20
    assert {a.body for a in answers} == {b"hello alice"}
    assert sandbox.calls["refresh"] == 1
