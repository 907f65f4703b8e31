"""``RedtrustMiddleware``: a fresh Redtrust token on every signed-in request, sync or async.

Place it after ``SessionMiddleware``. It reads this browser's Redtrust session from
``request.session``, refreshes the access token before it expires (single-flight: one
refresh per session in a process, and across processes through the cache lock), and sets
``request.redtrust`` to the :class:`~redtrust_middleware.web.RedtrustContext` or None.
Errors from Redtrust raised by views become a clear 502/503 here, in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse

from redtrust_middleware import AsyncClient, Client, LogoutEvent, RefreshEvent
from redtrust_middleware.web import SESSION_PROBLEMS, Proceed

from . import _users, signals
from ._hooks import Recorder, recording_events
from ._sending import asend_logged, send_logged
from ._web import (
    HANDLE_KEY,
    bound_context,
    http_response,
    local_read,
    session_unavailable,
    store_for,
    store_to_save,
    web_request,
)
from .conf import get_runtime

__all__ = ["PROBLEM_ATTRIBUTE", "RedtrustMiddleware"]

logger = logging.getLogger(__name__)
#: Why ``request.redtrust`` is None although the browser has a session (Redtrust or the
#: store is unavailable): protected views answer 503 instead of "sign in".
PROBLEM_ATTRIBUTE = "redtrust_problem"
#: The events of a request served from this process (``Gate.load_local``): none (no hook
#: runs; nothing appends here).
_NO_EVENTS = Recorder()
#: What :func:`_publish` answers on most requests: no signal (its arguments are never read).
_NO_SIGNAL: tuple[None, dict[str, Any]] = (None, {})


class RedtrustMiddleware:
    """Natively sync and async (no ``MiddlewareMixin``); see the module docstring."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        # Django builds its middleware when the server loads the app (gunicorn, uvicorn: no
        # system check runs there), so a bad REDTRUST setting stops the start instead of
        # failing every request. Raises ConfigurationError naming the key.
        get_runtime()
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        runtime, session = get_runtime(), _session(request)
        try:
            handle = session.get(HANDLE_KEY)
        except Exception as error:  # the session engine is down: protected views say 503
            handle = None
            setattr(request, PROBLEM_ATTRIBUTE, session_unavailable(error))
        if isinstance(handle, str) and handle:
            base, recorder, gate = runtime.sync_manager, _NO_EVENTS, runtime.gate
            # Most requests: served from this process as the one before (no I/O, no write,
            # no hook), from the request's records with no store nor manager built for it.
            proceed = gate.served(base, handle, local_read(request, runtime))
            if proceed is None:
                manager = base.using(store_for(request, runtime))
                proceed = gate.load_local(manager, handle)
                if proceed is None:  # a refresh, a touch, an end, a sampled request...
                    with recording_events() as recorder:
                        proceed = gate.load(manager, handle)
            signal, arguments = _publish(request, proceed, base.client, recorder)
            if signal is signals.redtrust_logged_out:  # the session ended: forget its handle
                session.pop(HANDLE_KEY, None)
            if signal is not None:
                send_logged(logger, signal, type(self), request=request, **arguments)
        if runtime.reconciles_users:
            _users.reconcile(request, keep=_keeps_user(request))
        response = self.get_response(request)
        if (used := store_to_save(request, runtime)) is not None:  # SessionMiddleware saves next:
            used.before_save(response.status_code)  # never with older records
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        runtime, session = get_runtime(), _session(request)
        try:
            handle = await session.aget(HANDLE_KEY)
        except Exception as error:
            handle = None
            setattr(request, PROBLEM_ATTRIBUTE, session_unavailable(error))
        if isinstance(handle, str) and handle:
            abase, recorder, gate = runtime.async_manager, _NO_EVENTS, runtime.gate
            proceed = gate.served(abase, handle, local_read(request, runtime))
            if proceed is None:
                amanager = abase.using(store_for(request, runtime))
                proceed = gate.load_local(amanager, handle)
                if proceed is None:
                    with recording_events() as recorder:
                        proceed = await gate.aload(amanager, handle)
            signal, arguments = _publish(request, proceed, abase.client, recorder)
            if signal is signals.redtrust_logged_out:
                await session.apop(HANDLE_KEY, None)
            if signal is not None:
                await asend_logged(logger, signal, type(self), request=request, **arguments)
        if runtime.reconciles_users:
            await _users.areconcile(request, keep=_keeps_user(request))
        response: HttpResponse = await self.get_response(request)
        if (used := store_to_save(request, runtime)) is not None:
            await used.abefore_save(response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Redtrust or the store failing inside a view: a clear 502/503, never a traceback."""
        if not isinstance(exception, SESSION_PROBLEMS):
            return None
        return http_response(get_runtime().gate.unavailable(web_request(request), exception))


def _session(request: HttpRequest) -> Any:
    """The Django session of ``request``; ``request.redtrust`` is None until one is loaded."""
    request.redtrust = None  # type: ignore[attr-defined]
    session = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured(
            "RedtrustMiddleware needs django.contrib.sessions.middleware.SessionMiddleware "
            "before it in MIDDLEWARE"
        )
    return session


def _keeps_user(request: HttpRequest) -> bool:
    """Whether a Django user signed in with Redtrust stays logged in: the Redtrust session
    is live, or it could not be read just now (a transient problem logs nobody out)."""
    return request.redtrust is not None or hasattr(request, PROBLEM_ATTRIBUTE)  # type: ignore[attr-defined]


def _publish(
    request: HttpRequest,
    proceed: Proceed,
    client: Client | AsyncClient,
    recorder: Recorder,
) -> tuple[Signal | None, dict[str, Any]]:
    """Set ``request.redtrust`` (with ``client`` bound to the user) or why there is none;
    the signal to send, and its arguments (the core's event among them)."""
    context = proceed.context
    if context is not None:
        context = bound_context(context, client)
        request.redtrust = context  # type: ignore[attr-defined]
        # Only the request that refreshed at Redtrust, as the core's on_refresh: not the
        # ones that waited for its result.
        refreshed = None if recorder is _NO_EVENTS else recorder.last(RefreshEvent)
        if refreshed is None:
            return _NO_SIGNAL
        return signals.token_refreshed, {"context": context, "event": refreshed}
    if proceed.problem is not None:
        setattr(request, PROBLEM_ATTRIBUTE, proceed.problem)
        return signals.refresh_failed, {"error": proceed.problem}
    return signals.redtrust_logged_out, {"reason": "ended", "event": recorder.last(LogoutEvent)}
