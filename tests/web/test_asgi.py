"""The generic ASGI middleware: pass-through, path protection, mounted routes, plain http."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware.asgi import MANAGER_KEY, Message, RedtrustASGIMiddleware, Scope
from redtrust_middleware.sandbox import running
from redtrust_middleware.testing import TEST_USERS, make_config, make_sandbox
from redtrust_starlette import RedtrustMiddleware, get_redtrust, redtrust_routes

from .conftest import make_site, page_signout_token

pytestmark = pytest.mark.anyio


class Recorder:
    """An inner ASGI app that records the scopes it sees."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"inner"})


async def _call(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_lifespan_and_websocket_scopes_pass_through_untouched() -> None:
    # (The owned connection pool is closed when the app's lifespan shutdown completes.)
    inner = Recorder()
    app = RedtrustASGIMiddleware(inner, config=make_config())
    for kind in ("lifespan", "websocket"):
        scope: Scope = {"type": kind, "path": "/ws", "headers": []}
        await _call(app, scope)
        assert inner.scopes[-1] is scope  # the very same object, unchanged


async def test_protected_prefixes_match_whole_segments_of_the_routed_path() -> None:
    inner = Recorder()
    app = RedtrustASGIMiddleware(inner, config=make_config(), protect=["/private"])
    expected = {
        "/private": 302,
        "/private/x": 302,
        "/privatex": 200,
        "/public/../private": 200,
        "//private": 200,
        "/public": 200,
    }
    for path, status in expected.items():
        scope: Scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [(b"user-agent", b"x"), (b"x-original-url", b"/private")],
        }
        sent = await _call(app, scope)
        assert sent[0]["status"] == status, path
    # The app saw the context as None for the paths it did serve.
    assert all(s["redtrust"] is None for s in inner.scopes)


async def test_the_web_middleware_needs_a_public_url_and_says_so_at_startup() -> None:
    # Starlette and FastAPI build their middleware on the first (lifespan) call, where an
    # exception is taken by uvicorn for "lifespan unsupported": the startup fails instead.
    config = RedtrustConfig(
        server_url="https://redtrust.test", partner="CA_TEST", shared_secret="s" * 32
    )
    inner = Recorder()
    app = RedtrustASGIMiddleware(inner, config=config)
    sent: list[Message] = []
    incoming = iter([{"type": "lifespan.startup"}])

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "public_url (REDTRUST_PUBLIC_URL): is required" in sent[0]["message"]
    assert "http://127.0.0.1:8000" in sent[0]["message"]  # an example of a value
    with pytest.raises(ConfigurationError) as caught:  # without a lifespan: each request
        await _call(app, {"type": "http", "method": "GET", "path": "/", "headers": []})
    assert caught.value.field == "public_url"
    assert caught.value.variable == "REDTRUST_PUBLIC_URL"
    assert inner.scopes == []  # the app never ran


async def test_the_login_route_refuses_other_methods() -> None:
    app = RedtrustASGIMiddleware(Recorder(), config=make_config())
    sent = await _call(
        app, {"type": "http", "method": "POST", "path": "/redtrust/login", "headers": []}
    )
    assert sent[0]["status"] == 405


def _mounted_app(config: RedtrustConfig, *, manager: Any = None) -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        context = get_redtrust(request)
        return PlainTextResponse(context.subject if context else "anonymous")

    from starlette.middleware import Middleware

    return Starlette(
        routes=[Route("/", home), *redtrust_routes(config)],
        middleware=[
            Middleware(RedtrustMiddleware, config=config, manager=manager, serve_routes=False)
        ],
    )


async def test_routes_can_be_mounted_in_the_app_instead() -> None:
    site, _ = make_site(_mounted_app)
    async with site.browser:
        done = await site.sign_in("/")
        assert done.status_code == 303
        assert (await site.browser.get("/")).text == "alice"
        confirm = await site.browser.get("/redtrust/logout")
        form = {"redtrust_signout": page_signout_token(confirm.text)}
        bare = await site.browser.post("/redtrust/logout", headers={"origin": "null"})
        assert bare.status_code == 403
        out = await site.browser.post("/redtrust/logout", data=form, headers={"origin": "null"})
        assert out.status_code == 303
        assert (await site.browser.get("/")).text == "anonymous"


async def test_the_manager_is_published_on_the_library_paths_only() -> None:
    """Mounted routes get the session manager in the scope; every other request does not
    (a key fewer); routes mounted below another prefix say where they belong."""
    from starlette.routing import Mount

    config = make_config()
    inner = Recorder()
    app = RedtrustASGIMiddleware(inner, config=config, serve_routes=False)
    for path in ("/", config.login_path):
        await _call(app, {"type": "http", "method": "GET", "path": path, "headers": []})
    assert [MANAGER_KEY in scope for scope in inner.scopes] == [False, True]
    assert inner.scopes[1][MANAGER_KEY] is app.manager

    nested = Starlette(routes=[Mount("/auth", routes=redtrust_routes(config))])
    wrapped = RedtrustMiddleware(nested, config=config, serve_routes=False)
    scope = {"type": "http", "method": "GET", "path": "/auth" + config.login_path}
    with pytest.raises(RuntimeError, match=r"mount redtrust_routes\(\) at the app's root"):
        await _call(wrapped, {**scope, "headers": [], "query_string": b""})


@pytest.fixture
def served_app() -> Iterator[tuple[str, Any]]:
    """The Starlette example over a real socket, talking to the sandbox over another."""
    from examples.starlette_app import create_app

    sandbox = make_sandbox()
    with running(sandbox) as sandbox_url:
        sock = __import__("socket").create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app_url = f"http://127.0.0.1:{port}"
        config = make_config(server_url=sandbox_url, public_url=app_url)
        sandbox_redirects = app_url + "/"
        object.__setattr__(sandbox.config, "redirect_prefixes", (sandbox_redirects,))
        server = uvicorn.Server(
            uvicorn.Config(create_app(config), log_level="warning", access_log=False, lifespan="on")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the app server did not start")
                threading.Event().wait(0.01)
            yield app_url, sandbox
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.mark.network
def test_the_whole_flow_over_real_sockets(served_app: tuple[str, Any]) -> None:
    app_url, _ = served_app
    with httpx2.Client(base_url=app_url, timeout=10) as browser:
        start = browser.get("/redtrust/login", params={"next": "/me"})
        assert start.status_code == 302
        login_url = start.headers["location"]
        with httpx2.Client(timeout=10) as redtrust:
            page = redtrust.get(login_url)
            attempt = page.text.split('name="attempt" value="', 1)[1].split('"', 1)[0]
            action = page.text.split('action="', 1)[1].split('"', 1)[0]
            back = redtrust.post(
                httpx2.URL(login_url).join(action),
                data={"attempt": attempt, "username": "alice", "password": TEST_USERS["alice"]},
            )
        callback = back.headers["location"]
        assert callback.startswith(app_url + "/redtrust/callback?state=")
        done = browser.get(callback)
        assert done.status_code == 303
        cookie = done.headers["set-cookie"]
        assert cookie.startswith("redtrust_session=")  # plain http: no __Host-, no Secure
        assert "Secure" not in cookie
        me = browser.get("/me")
        assert me.status_code == 200
        assert "alice" in me.text


async def test_outer_middleware_sees_what_the_app_put_in_the_scope() -> None:
    seen: dict[str, Any] = {}
    inner = Recorder()
    redtrust = RedtrustMiddleware(inner, config=make_config())

    async def outer(scope: Scope, receive: Any, send: Any) -> None:
        await redtrust(scope, receive, send)
        seen.update(scope)

    await _call(outer, {"type": "http", "method": "GET", "path": "/", "headers": []})
    assert "redtrust" in seen  # published in place, like Starlette's own middleware
    assert seen["state"]["redtrust"] is None


async def test_the_decorator_says_clearly_that_websockets_are_not_protected() -> None:
    from starlette.websockets import WebSocket

    from redtrust_starlette import requires_redtrust

    @requires_redtrust
    async def endpoint(websocket: WebSocket) -> None:
        raise AssertionError("never reached")

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        return None

    socket = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    with pytest.raises(TypeError, match="HTTP endpoints"):
        await endpoint(socket)


async def test_a_state_dict_shared_by_the_server_is_never_written() -> None:
    shared: dict[str, Any] = {"from_lifespan": 1}
    inner = Recorder()
    app = RedtrustMiddleware(inner, config=make_config())
    await _call(app, {"type": "http", "method": "GET", "path": "/", "headers": [], "state": shared})
    assert shared == {"from_lifespan": 1}
    assert inner.scopes[-1]["state"] == {"from_lifespan": 1, "redtrust": None}


async def test_logout_works_for_an_ipv6_public_url() -> None:
    from redtrust_middleware.session import SessionManager
    from redtrust_middleware.web import Browser, Gate, WebRequest

    config = make_config(public_url="http://[::1]:8000")
    gate = Gate(config)
    for origin, status in (("http://[::1]:8000", 303), ("http://[::1]:8001", 403)):
        request = WebRequest(method="POST", path="/redtrust/logout", headers={"origin": origin})
        answer = gate.route(SessionManager(config), "logout", request, Browser())
        assert answer.response.status == status, origin


async def test_redtrust_errors_raised_by_the_app_are_a_clear_502() -> None:
    from redtrust_middleware import UpstreamError
    from redtrust_middleware.asgi import RedtrustASGIMiddleware
    from redtrust_middleware.testing import make_config

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise UpstreamError("create_csr failed", status=500)

    import httpx2

    middleware = RedtrustASGIMiddleware(app, config=make_config())
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=middleware), base_url="https://app.test"
    ) as browser:
        answer = await browser.get("/certificates", headers={"accept": "text/html"})
    assert answer.status_code == 502
    assert "Traceback" not in answer.text
    await middleware.aclose()


#: What an app may send on every request: one message and header list, never copied.
_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_START_TUPLE: Message = {**_START, "headers": ((b"content-type", b"text/plain"),)}


@pytest.mark.parametrize("start", [_START, _START_TUPLE], ids=["list", "tuple"])
async def test_signed_in_responses_vary_on_the_cookie_without_touching_the_apps_message(
    start: Message,
) -> None:
    from redtrust_middleware.client import AsyncClient
    from redtrust_middleware.session import AsyncSessionManager
    from redtrust_middleware.web import Gate

    config = make_config()
    sandbox = make_sandbox()
    client = AsyncClient(config, transport=sandbox.async_transport())
    manager = AsyncSessionManager(config, client=client)
    begun = await manager.begin_login(next_url="/", callback_url=config.redirect_url)
    done = await manager.complete_login(
        query=f"state={begun.browser_nonces[-1]}&tkn={sandbox.issue_temp_token('alice')}",
        browser_nonces=begun.browser_nonces,
    )
    before = {**start, "headers": list(start["headers"])}
    seen: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["redtrust"])
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = RedtrustMiddleware(app, config=config, manager=manager)
    cookie = f"theme=dark; {Gate(config).session_cookie}={done.handle}".encode()
    for _ in range(3):
        scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        scope["headers"] = [(b"cookie", cookie)]
        sent = await _call(middleware, scope)
        assert sent[0]["headers"] == [(b"content-type", b"text/plain"), (b"vary", b"Cookie")]
        assert sent[0] is not start
        assert {**start, "headers": list(start["headers"])} == before  # unchanged
        assert scope["state"]["redtrust"] is seen[-1]
    assert all(context is not None and context.subject for context in seen)
    # Signed out by another worker: the very next request is signed out, and says so.
    assert await manager.logout(done.handle)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie)]}
    sent = await _call(middleware, scope)
    assert seen[-1] is None
    cleared = [value for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert len(cleared) == 1
    assert b"Max-Age=0" in cleared[0]
    await manager.aclose()
