"""Generic WSGI middleware: Redtrust sign-in for any WSGI app (PEP 3333), no framework needed.

The WSGI twin of :mod:`redtrust_middleware.asgi`: it serves the login, callback and logout
routes itself, keeps the opaque session handle in an HttpOnly cookie, refreshes the access
token before expiry (single-flight: threads of a process wait for one refresh, processes on a
shared store for its lock) and publishes the signed-in context as ``environ["redtrust"]``
(None when signed out), with a client bound to the user's fresh token. Everything it decides
comes from :class:`redtrust_middleware.web.Gate` (its sync drivers :meth:`~.web.Gate.serve`
and :meth:`~.web.Gate.load`); this module only speaks WSGI.

Nothing about a request is kept on the instance, so one middleware serves the threads of a
threaded server (gunicorn ``gthread``, waitress). WSGI has no startup event: a configuration
the middleware cannot work with (no ``public_url``) raises when it is built, so the server
fails to load the app with the message. Routes are matched below ``SCRIPT_NAME`` (the app's
mount point), and the URLs the browser is sent to start with it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from http import HTTPStatus
from types import TracebackType
from typing import TypeAlias
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .asgi import GATE_KEY, MANAGER_KEY, PROBLEM_KEY, SCOPE_KEY, Refusal, outcome_headers
from .config import RedtrustConfig
from .exceptions import ConfigurationError, RedtrustError
from .hooks import Hooks
from .pages import PageRenderer
from .session import SessionManager
from .stores import Store
from .web import (
    MAX_FORM_BYTES,
    SESSION_PROBLEMS,
    Gate,
    Proceed,
    RedtrustContext,
    WebRequest,
    WebResponse,
    under_prefixes,
)

__all__ = [
    "ENVIRON_KEY",
    "GATE_KEY",
    "MANAGER_KEY",
    "PROBLEM_KEY",
    "RedtrustWSGIMiddleware",
    "StartResponse",
    "WSGIApp",
    "read_body",
    "request_from_environ",
    "request_path",
    "request_uri",
    "route_request",
]

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
)
Environ: TypeAlias = WSGIEnvironment
#: A WSGI application (PEP 3333), as :mod:`wsgiref.types` spells it.
WSGIApp: TypeAlias = WSGIApplication

#: Where the signed-in :class:`~redtrust_middleware.web.RedtrustContext` is published (the
#: ASGI face's key; :data:`PROBLEM_KEY`, :data:`GATE_KEY` and :data:`MANAGER_KEY` too).
ENVIRON_KEY = SCOPE_KEY

#: The CGI names of the headers WSGI does not prefix with ``HTTP_``.
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def _raw(text: str) -> bytes:
    """The bytes a WSGI string stands for (PEP 3333: "native strings" are latin-1)."""
    return text.encode("latin-1", "replace")


def request_path(environ: Environ) -> str:
    """The routed path (``PATH_INFO``, below ``SCRIPT_NAME``), decoded as UTF-8 the way an
    ASGI server decodes ``scope["path"]``: PEP 3333 hands it over as latin-1 code points of
    the percent-decoded bytes."""
    return _raw(environ.get("PATH_INFO", "") or "/").decode("utf-8", "replace")


def _root(environ: Environ) -> str:
    """``SCRIPT_NAME`` as the browser sends it (percent-encoded), without a trailing ``/``
    and with one leading ``/``: the URLs built on it are where the browser goes next, and
    ``//host/...`` would leave the site (proxies set ``SCRIPT_NAME`` from a request header,
    ``X-Forwarded-Prefix``, when told to)."""
    root = quote(_raw(environ.get("SCRIPT_NAME", "")), safe="/;=,").strip("/")
    return f"/{root}" if root else ""


def request_uri(environ: Environ) -> str:
    """The request's path and query as a browser would send them again (for ``next``):
    ``SCRIPT_NAME`` and ``PATH_INFO`` percent-encoded as :func:`wsgiref.util.request_uri`
    does, then the raw query."""
    path = _root(environ) + quote(_raw(environ.get("PATH_INFO", "") or "/"), safe="/;=,")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def request_from_environ(environ: Environ) -> WebRequest:
    """The neutral request for a WSGI environ (header names lower-case, values as sent)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in _UNPREFIXED and value:
            headers[_UNPREFIXED[key]] = value
    return WebRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=request_path(environ),
        query=_raw(environ.get("QUERY_STRING", "")),
        headers=headers,
        scheme=environ.get("wsgi.url_scheme", "http"),
        root=_root(environ),
    )


def read_body(environ: Environ, limit: int) -> bytes:
    """The request body, or ``b""`` when it is (or says it is) larger than ``limit`` bytes.

    Reads at most ``CONTENT_LENGTH`` bytes (PEP 3333: never past it), and nothing when the
    length is missing or malformed, unless the server marks the input as terminated
    (``wsgi.input_terminated``, chunked uploads); then at most ``limit + 1`` bytes.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if declared.isascii() and declared.isdigit():  # RFC 9110: 1*DIGIT; "²" is a digit too
        wanted = int(declared)
        if wanted > limit:
            return b""
    elif environ.get("wsgi.input_terminated"):
        wanted = limit + 1
    else:
        return b""
    chunks: list[bytes] = []
    size = 0
    while size < wanted:
        chunk = stream.read(wanted - size)
        if not chunk:
            break  # the client sent less than it announced
        chunks.append(chunk)
        size += len(chunk)
    return b"" if size > limit else b"".join(chunks)


def route_request(
    gate: Gate, environ: Environ, read: Callable[[Environ, int], bytes] = read_body
) -> WebRequest:
    """The neutral request for one of the library's routes, with the body where the gate
    needs it (the sign-out form's token), read by ``read`` (default :func:`read_body`; a
    framework that may have read the stream already passes a reader of its own copy)."""
    request = request_from_environ(environ)
    if gate.wants_body(request):
        request = replace(request, body=read(environ, MAX_FORM_BYTES))
    return request


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _respond(
    start_response: StartResponse,
    response: WebResponse,
    extra_headers: Sequence[tuple[str, str]] = (),
    exc_info: ExcInfo | None = None,
) -> list[bytes]:
    """Start a complete :class:`WebResponse` and return its body."""
    headers = [*response.headers, *extra_headers, ("content-length", str(len(response.body)))]
    start_response(_status(response.status), headers, exc_info)
    return [response.body]


class _Body:
    """The app's iterable as the middleware returns it: iterated through the middleware's
    generator, and with a ``close()`` that reaches the app's iterable exactly once, also when
    the server closes the body before iterating it (a generator's ``finally`` does not run
    when it is closed unstarted)."""

    __slots__ = ("chunks", "closed", "result")

    def __init__(self, result: Iterable[bytes]) -> None:
        self.result = result
        self.chunks: Generator[bytes, None, None] | None = None
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        assert self.chunks is not None
        return self.chunks

    def close_result(self) -> None:
        """Close the app's iterable, once."""
        if self.closed:
            return
        self.closed = True
        close = getattr(self.result, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """PEP 3333's ``close()``: stop the middleware's generator, close the app's iterable."""
        try:
            if self.chunks is not None:
                self.chunks.close()
        finally:
            self.close_result()


class RedtrustWSGIMiddleware:
    """Redtrust sign-in in front of any WSGI app.

    Args:
        app: the wrapped WSGI app.
        config: the Redtrust configuration.
        store: where sessions live (default: in memory, this process only; use a
            :class:`~redtrust_middleware.RedisStore` under several worker processes).
        manager: a ready :class:`SessionManager` (overrides ``store``), e.g. to share it.
        protect: path prefixes the middleware itself guards (whole segments); others only see
            ``environ["redtrust"]`` and decide for themselves.
        api_prefixes: paths whose callers get 401 JSON instead of a login redirect.
        serve_routes: False when the routes are mounted in the app instead.
        pages: what renders the library's pages (default: the built-in templates, in the
            browser's language); ``Pages(templates=..., locales=...)`` overrides them.
        hooks: callbacks on sign-in, refresh and session end
            (:class:`~redtrust_middleware.hooks.Hooks`, plain functions; with ``manager``, they
            replace its own).

    Raises:
        ConfigurationError: the configuration lacks what the middleware needs (``public_url``),
            or a hook is an ``async def`` (a WSGI app has no event loop to run it on).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        config: RedtrustConfig,
        store: Store | None = None,
        manager: SessionManager | None = None,
        protect: Sequence[str] = (),
        api_prefixes: Sequence[str] = ("/api/",),
        serve_routes: bool = True,
        pages: PageRenderer | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self._owns_manager = manager is None
        if manager is None:
            manager = SessionManager(config, store=store, hooks=hooks)
        elif hooks is not None:
            manager = manager.with_hooks(hooks)
        self.manager = manager
        try:
            self.gate = Gate(
                config,
                api_prefixes=api_prefixes,
                client=self.manager.client,
                clock=self.manager.flows.clock,
                pages=pages,
            )
        except ConfigurationError:
            self.close()  # the app will not be served: leave no connection pool behind
            raise
        self.protect = tuple(protect)
        self.serve_routes = serve_routes

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = request_path(environ)
        gate = self.gate
        if path in gate.routes:
            if not self.serve_routes:
                return self.app(self.publish(environ, None, None), start_response)
            return _respond(start_response, gate.serve(self.manager, route_request(gate, environ)))
        cookie, manager = environ.get("HTTP_COOKIE"), self.manager
        # As the ASGI face: a signed-in request like the one before is one lookup (load
        # itself tries the local read first: there is no coroutine to spare here).
        outcome = gate.served(manager, cookie)
        if outcome is None:
            outcome = gate.load(manager, gate.session_handle(cookie), remember=cookie)
        if outcome.context is None and self.protect and under_prefixes(path, self.protect):
            request = request_from_environ(environ)
            refusal = gate.refusal(request, request_uri(environ), outcome.problem)
            return _respond(start_response, refusal, outcome_headers(outcome))
        self.publish(environ, outcome.context, outcome.problem)
        extra = outcome_headers(outcome)
        started: list[bool] = []  # this request's: did the app call start_response?

        def start_with_cookies(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            started.append(True)
            return start_response(status, [*headers, *extra], exc_info)

        try:
            result = self.app(environ, start_with_cookies)
        except (Refusal, *SESSION_PROBLEMS) as error:
            return self._answer(environ, start_response, error, outcome, bool(started))
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(result, list | tuple) or (
            isinstance(wrapper, type) and isinstance(result, wrapper)
        ):
            return result  # nothing left to run (or the server's own sendfile): as it is
        body = _Body(result)
        body.chunks = self._iterate(body, environ, start_response, outcome, started)
        return body

    def _iterate(
        self,
        body: _Body,
        environ: Environ,
        start_response: StartResponse,
        outcome: Proceed,
        started: list[bool],
    ) -> Generator[bytes, None, None]:
        """The app's body; a Redtrust failure before its first byte becomes the clear
        502/503, and the app's iterable is closed however the response ends (PEP 3333)."""
        sent = False
        try:
            for chunk in body.result:
                sent = sent or bool(chunk)
                yield chunk
        except (Refusal, *SESSION_PROBLEMS) as error:
            if sent:
                raise
            yield from self._answer(environ, start_response, error, outcome, bool(started))
        finally:
            body.close_result()

    def _answer(
        self,
        environ: Environ,
        start_response: StartResponse,
        error: Exception,
        outcome: Proceed,
        started: bool,
    ) -> list[bytes]:
        """The answer when the app raised ``error``: a :class:`Refusal`'s response, or for
        Redtrust or the store failing inside the app (an RA call, say) the same clear
        502/503 as everywhere else, never a traceback. When the app had started a response,
        ``exc_info`` lets it be replaced (PEP 3333: unless already sent; then the server
        raises the error again and drops the connection)."""
        if isinstance(error, Refusal):
            answer = error.response
        else:
            assert isinstance(error, RedtrustError)
            answer = self.gate.unavailable(request_from_environ(environ), error)
        traceback = error.__traceback__
        exc_info: ExcInfo | None = None
        if started and traceback is not None:
            exc_info = (type(error), error, traceback)
        return _respond(start_response, answer, outcome_headers(outcome), exc_info)

    def publish(
        self, environ: Environ, context: RedtrustContext | None, problem: Exception | None
    ) -> Environ:
        """Put the context into ``environ`` (in place: middleware further out see it too)."""
        environ[ENVIRON_KEY] = context
        environ[GATE_KEY] = self.gate
        environ[MANAGER_KEY] = self.manager
        if problem is not None:
            environ[PROBLEM_KEY] = problem
        return environ

    def close(self) -> None:
        """Close the HTTP connection pool to Redtrust (when the middleware made its manager)."""
        if self._owns_manager:
            self.manager.close()
