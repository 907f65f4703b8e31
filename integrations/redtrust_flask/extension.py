"""``Redtrust``: the Flask extension (``Redtrust(app)`` or ``init_app(app)`` in a factory).

``init_app`` wraps ``app.wsgi_app`` with the core's
:class:`~redtrust_middleware.wsgi.RedtrustWSGIMiddleware` (``serve_routes=False``): it loads
each request's session, refreshes it single-flight and writes the session cookie, exactly as
for any WSGI app. The login, callback and logout routes are a blueprint (``redtrust.login``,
``redtrust.callback``, ``redtrust.logout`` for ``url_for``) whose views hand the request to
the core's :class:`~redtrust_middleware.web.Gate`; so the app's own ``before_request`` and
``after_request`` hooks run on them too, and no decision is taken here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode
from wsgiref.types import WSGIEnvironment as Environ

from flask import Blueprint, Flask, Response, current_app, g, request

from redtrust_middleware import (
    ConfigurationError,
    Hooks,
    RedtrustConfig,
    RedtrustError,
    SessionManager,
    Store,
)
from redtrust_middleware.pages import PageRenderer
from redtrust_middleware.web import SESSION_PROBLEMS, Gate, WebResponse
from redtrust_middleware.wsgi import (
    ENVIRON_KEY,
    RedtrustWSGIMiddleware,
    request_from_environ,
    route_request,
)

from ._config import read_app_config, relabel

__all__ = ["Redtrust", "RedtrustState", "state", "to_response"]

EXTENSION_KEY = "redtrust"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class RedtrustState:
    """What ``init_app`` keeps in ``app.extensions["redtrust"]``."""

    config: RedtrustConfig
    manager: SessionManager
    gate: Gate
    middleware: RedtrustWSGIMiddleware


def state(app: Flask | None = None) -> RedtrustState:
    """The extension's state of ``app`` (default: the current app).

    Raises:
        RuntimeError: ``Redtrust(app)`` / ``init_app(app)`` was not called for it.
    """
    app = app if app is not None else current_app
    found = app.extensions.get(EXTENSION_KEY)
    if not isinstance(found, RedtrustState):
        raise RuntimeError(
            f"Redtrust is not set up on the Flask app {app.name!r}: call Redtrust(app) "
            "or redtrust.init_app(app) where the app is created"
        )
    return found


def to_response(answer: WebResponse) -> Response:
    """A Flask response for a gate answer (repeated headers such as Set-Cookie kept)."""
    response = Response(answer.body, status=answer.status)
    response.headers.clear()  # the gate's answers carry their own content type
    for name, value in answer.headers:
        response.headers.add(name, value)
    return response


def _form_body(environ: Environ, limit: int) -> bytes:
    """The sign-out POST's body as Werkzeug holds it, under the same rules as the core's
    :func:`~redtrust_middleware.wsgi.read_body` (``b""`` past ``limit``).

    Read through Werkzeug, never from ``wsgi.input`` itself: an app's ``before_request``
    hook may have read ``request.form`` (Flask-WTF's ``CSRFProtect`` does on every POST) or
    ``request.get_data()``, and the stream is then consumed. ``get_data`` returns its cached
    copy in the second case; in the first the parsed form is encoded again.
    """
    length = request.content_length
    if length is not None and length > limit:
        return b""
    # A chunked upload (wsgi.input_terminated) has no length: no more than the limit is read.
    chunked = length is None
    body = request.stream.read(limit + 1) if chunked else request.get_data(cache=True)
    if not body:  # the form parser consumed the stream (or the body is empty: no form)
        body = urlencode(list(request.form.items(multi=True))).encode("ascii")
    return b"" if len(body) > limit else body


def _serve() -> Response:
    """The blueprint's one view: the gate answers the library's route."""
    found = state()
    neutral = route_request(found.gate, request.environ, _form_body)
    return to_response(found.gate.serve(found.manager, neutral))


def _unavailable(error: RedtrustError) -> Response:
    """Redtrust or the store failed inside a view: the core's clear 502/503 (JSON for API
    callers), never a traceback or a token."""
    return to_response(state().gate.unavailable(request_from_environ(request.environ), error))


def _publish() -> None:
    g.redtrust = request.environ.get(ENVIRON_KEY)


class Redtrust:
    """Redtrust sign-in for a Flask app.

    Args:
        app: the app; or call :meth:`init_app` later (app factories).
        config: the configuration; default: read from ``app.config["REDTRUST_..."]``.
        store: where sessions live (default: in memory, this process only; a
            :class:`~redtrust_middleware.RedisStore` under several worker processes).
        manager: a ready :class:`SessionManager` (overrides ``store``), e.g. in tests with
            a client on the sandbox's transport.
        pages: what renders the library's pages (default: the built-in templates, in the
            browser's language); ``Pages(templates=..., locales=...)`` overrides them.
        hooks: callbacks on sign-in, refresh and session end
            (:class:`~redtrust_middleware.Hooks`, plain functions).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: RedtrustConfig | None = None,
        store: Store | None = None,
        manager: SessionManager | None = None,
        pages: PageRenderer | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.config, self.store, self.manager = config, store, manager
        self.pages, self.hooks = pages, hooks
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        *,
        config: RedtrustConfig | None = None,
        store: Store | None = None,
        manager: SessionManager | None = None,
        api_prefixes: Sequence[str] | None = None,
        pages: PageRenderer | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        """Set up ``app``: read and check its configuration now (a mistake raises here, at
        start-up, naming the ``app.config`` key and its environment variable), wrap its
        ``wsgi_app``, register the routes' blueprint, ``g.redtrust`` and the error handler
        (for each of ``StoreError``, ``UpstreamError`` and ``RefreshFailedError`` the app has
        no handler of its own for yet).
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"Redtrust is already set up on the Flask app {app.name!r}")
        given = config or self.config
        config, prefixes = read_app_config(app.config, given)
        api_prefixes = prefixes if api_prefixes is None else api_prefixes
        manager = manager or self.manager
        hooks = hooks or self.hooks
        if hooks is not None:  # before the config's errors are relabelled as app.config keys
            hooks.require_sync("the Flask extension (a WSGI app)")
        owned = manager is None
        if manager is None:
            manager = SessionManager(config, store=store or self.store)
        try:
            middleware = RedtrustWSGIMiddleware(
                app.wsgi_app,
                config=config,
                manager=manager,
                api_prefixes=api_prefixes,
                serve_routes=False,
                pages=pages or self.pages,
                hooks=hooks,
            )
        except ConfigurationError as error:
            if owned:
                manager.close()  # the app will not be served: no connection pool left behind
            raise (error if given else relabel(error)) from None
        app.wsgi_app = middleware  # type: ignore[method-assign]
        blueprint = Blueprint("redtrust", __name__)
        for endpoint, path in (
            ("login", config.login_path),
            ("callback", config.callback_path),
            ("logout", config.logout_path),
        ):
            # Every method reaches the gate, which answers a wrong one with its own 405.
            blueprint.add_url_rule(
                path, endpoint, _serve, methods=_METHODS, provide_automatic_options=False
            )
        app.register_blueprint(blueprint)
        app.before_request(_publish)
        # The app's own handler for one of these classes, registered before init_app, stays
        # (one registered later replaces ours: Flask keeps the last per class).
        own = app.error_handler_spec[None][None]
        for kind in SESSION_PROBLEMS:
            if kind not in own:
                app.register_error_handler(kind, _unavailable)
        app.extensions[EXTENSION_KEY] = RedtrustState(
            config=config, manager=middleware.manager, gate=middleware.gate, middleware=middleware
        )

    def __repr__(self) -> str:
        return f"Redtrust(config={self.config!r})"
