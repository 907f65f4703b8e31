"""The login, callback and logout views: thin wrappers over the core's :class:`Gate` routes.

The browser's pending-login nonces and session handle live in ``request.session``; the
session key is cycled when a user signs in (no fixation) and the session is flushed when
they sign out. The views are exempt from ``LoginRequiredMiddleware`` and from Django's CSRF
check on logout, which the gate guards itself: a sign-out POST must carry the session's
sign-out token or a same-origin ``Origin``, ``Referer`` or ``Sec-Fetch-Site``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from redtrust_middleware import LoginEvent, LogoutEvent, RedtrustError, StoreError
from redtrust_middleware.session import SessionManager
from redtrust_middleware.web import RouteAnswer, RouteName

from . import signals
from ._hooks import Recorder, recording_events
from ._sending import send_logged
from ._web import (
    HANDLE_KEY,
    NONCES_KEY,
    browser,
    http_response,
    session_unavailable,
    store_for,
    web_request,
)
from .conf import get_runtime

__all__ = ["callback", "login", "logout"]

logger = logging.getLogger(__name__)


def _keep(request: HttpRequest, answer: RouteAnswer) -> None:
    session = request.session
    if answer.handle is not None:
        session.cycle_key()
        session[HANDLE_KEY] = answer.handle
    elif answer.signed_out:
        session.flush()
    if answer.nonces is not None:
        session[NONCES_KEY] = list(answer.nonces)


def _signal(
    answer: RouteAnswer, manager: SessionManager, recorder: Recorder
) -> tuple[Any, dict[str, Any]] | None:
    if answer.handle is not None:
        event = recorder.last(LoginEvent)  # the core's on_login event of this sign-in
        try:
            context = get_runtime().gate.after_load(manager.get(answer.handle)).context
        except RedtrustError:  # the sign-in is done; the signal just carries less
            context = None
        return signals.redtrust_logged_in, {"context": context, "event": event}
    if answer.signed_out:
        return signals.redtrust_logged_out, {
            "reason": "logout",
            "event": recorder.last(LogoutEvent),
        }
    return None


def _view(name: RouteName) -> Callable[[HttpRequest], HttpResponse]:
    """A Django view serving the gate's route ``name``.

    Sync on purpose: these views are visited once per sign-in, and under ASGI Django runs
    them in its thread pool, where the sync client is always safe (an async client's
    connections belong to one event loop, and WSGI gives each async view a new one).
    """

    @sensitive_variables()
    def view(request: HttpRequest) -> HttpResponse:
        runtime = get_runtime()
        manager = runtime.sync_manager.using(store_for(request, runtime))
        neutral = web_request(request, gate=runtime.gate)
        try:
            with recording_events() as recorder:
                answer = runtime.gate.route(manager, name, neutral, browser(request, runtime))
                _keep(request, answer)
        except Exception as error:  # the session engine failed (database, cache): a 503
            if isinstance(error, RedtrustError) and not isinstance(error, StoreError):
                raise
            problem = session_unavailable(error)
            return http_response(runtime.gate.unavailable(neutral, problem))
        sent = _signal(answer, manager, recorder)
        if sent is not None:
            send_logged(logger, sent[0], view, request=request, **sent[1])
        return http_response(answer.response)

    view.__name__ = view.__qualname__ = name
    return login_not_required(view)


#: Start a sign-in: ``GET login?next=/path`` redirects to Redtrust.
login = _view("login")
#: Redtrust's redirect back, carrying ``tkn``.
callback = _view("callback")
#: ``GET`` shows a confirmation form; ``POST`` (proven to come from this site) signs out.
logout = csrf_exempt(_view("logout"))
