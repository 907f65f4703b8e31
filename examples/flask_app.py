"""A Flask app signed in with Redtrust; configured by the ``REDTRUST_*`` variables.

    REDTRUST_SERVER_URL=... REDTRUST_PARTNER=... REDTRUST_SHARED_SECRET=... \
    REDTRUST_PUBLIC_URL=http://127.0.0.1:8000 gunicorn examples.flask_app:app

Paths: ``/`` public, ``/me`` protected page, ``/api/me`` protected JSON, ``/certificates``
(request, list, renew and download certificates; the demo CA signs them), sign-out by POST.
The pages themselves are :class:`~redtrust_middleware.cli.pages.ExamplePages`; this file only
wires them to Flask. Redtrust failing inside a view (an enrolment, say) needs no code here:
the extension's error handler answers with the clear 502/503.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from flask import Flask, Response, request

from redtrust_flask import Redtrust, current_redtrust, get_redtrust, redtrust_required
from redtrust_flask.extension import to_response
from redtrust_middleware import InvalidInputError, RedtrustConfig, SessionManager
from redtrust_middleware.cli.pages import (
    CERTIFICATES,
    DOWNLOAD,
    MAX_FORM_BYTES,
    RENEW,
    ExamplePages,
    parse_form,
)
from redtrust_middleware.logfilter import redact_access_logs
from redtrust_middleware.sandbox import DemoCA
from redtrust_middleware.web import RedtrustContext, WebResponse


def read_form() -> dict[str, str]:
    """The urlencoded form of a POST, read with a size cap (as the other examples do)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidInputError("form", "must be application/x-www-form-urlencoded")
    body = request.stream.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError("form", f"must be at most {MAX_FORM_BYTES} bytes")
    return parse_form(body)


def create_app(
    config: RedtrustConfig | None = None,
    *,
    manager: SessionManager | None = None,
    ca: DemoCA | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """The app; without ``config`` the ``REDTRUST_*`` keys of ``app.config`` are read (copied
    from the environment); ``ca`` defaults to a new :class:`DemoCA`; ``clock`` is what the
    pages measure "in 4 min" from."""
    app = Flask(__name__)
    app.config.from_mapping({k: v for k, v in os.environ.items() if k.startswith("REDTRUST_")})
    Redtrust(app, config=config, manager=manager)
    ca = ca if ca is not None else DemoCA()
    logout_path = app.extensions["redtrust"].config.logout_path
    pages = ExamplePages(logout_path=logout_path, issue=ca.issue, clock=clock)

    def posted(act: Callable[[RedtrustContext, dict[str, str]], WebResponse]) -> Response:
        try:
            return to_response(act(current_redtrust, read_form()))
        except InvalidInputError as error:  # not a form at all
            return to_response(pages.refused(current_redtrust, error))

    @app.get("/")
    def home() -> Response:
        return to_response(pages.home(get_redtrust(), request.query_string.decode("latin-1")))

    @app.get("/me")
    @redtrust_required
    def me() -> Response:
        return to_response(pages.me(current_redtrust))

    @app.get("/api/me")
    @redtrust_required
    def api_me() -> Response:
        return to_response(pages.api_me(current_redtrust))

    @app.route(CERTIFICATES, methods=["GET", "POST"])
    @redtrust_required
    def certificates() -> Response:
        if request.method == "POST":
            return posted(pages.request_certificate_sync)
        query = request.query_string.decode("latin-1")
        return to_response(pages.certificates(current_redtrust, query))

    @app.post(RENEW)
    @redtrust_required
    def renew() -> Response:
        return posted(pages.renew_certificate_sync)

    @app.get(DOWNLOAD)
    @redtrust_required
    def download() -> Response:
        query = request.query_string.decode("latin-1")
        return to_response(pages.download(current_redtrust, query))

    return app


def __getattr__(name: str) -> Flask:
    """``app``, built from the environment on first use (``gunicorn examples.flask_app:app``),
    so importing the module needs no configuration; a bad setting stops gunicorn with the
    message naming the ``REDTRUST_*`` variable."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = create_app()
    return built


redact_access_logs()  # the access log keeps the callback's URL, but not its tkn and state
