"""``RedtrustMiddleware``: a fresh Redtrust token on every signed-in request, sync or async.

Place it after ``SessionMiddleware``. It reads this browser's Redtrust session from
``request.session``, refreshes the access token before it expires (single-flight: one
refresh per session in a process, and across processes through the cache lock), and sets
``request.redtrust`` to the :class:`~redtrust_middleware.web.RedtrustContext` or None.
Errors from Redtrust raised by views become a clear 502/503 here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from redtrust_middleware import (
    AsyncUserClient,
    RefreshFailedError,
    StoreError,
    UpstreamError,
    UserClient,
)
from redtrust_middleware.session import ActiveSession
from redtrust_middleware.web import SESSION_PROBLEMS, RedtrustContext

from . import signals
from ._web import HANDLE_KEY, http_response, store_for, used_store, web_request
from .conf import Runtime, get_runtime

__all__ = ["PROBLEM_ATTRIBUTE", "RedtrustMiddleware"]

#: Why ``request.redtrust`` is None although the browser has a session (Redtrust or the
#: store is unavailable): protected views answer 503 instead of "sign in".
PROBLEM_ATTRIBUTE = "redtrust_problem"
_UNAVAILABLE = (UpstreamError, StoreError, RefreshFailedError)


class RedtrustMiddleware:
    """Natively sync and async (no ``MiddlewareMixin``); see the module docstring."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        runtime = get_runtime()
        request.redtrust = None  # type: ignore[attr-defined]
        session = _session(request)
        try:
            handle = session.get(HANDLE_KEY)
        except Exception as error:  # the session engine is down: protected views say 503
            handle = None
            setattr(request, PROBLEM_ATTRIBUTE, _unreadable(error))
        if isinstance(handle, str) and handle:
            manager = runtime.sync_manager.using(store_for(request, runtime))
            try:
                loaded: ActiveSession | Exception | None = manager.get(handle)
            except SESSION_PROBLEMS as error:
                loaded = error
            for signal, arguments in self._publish(request, runtime, loaded):
                signal.send_robust(sender=type(self), request=request, **arguments)
        response = self.get_response(request)
        store = used_store(request)
        if store is not None:  # SessionMiddleware saves next: never with older records
            store.before_save(response.status_code)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        runtime = get_runtime()
        request.redtrust = None  # type: ignore[attr-defined]
        session = _session(request)
        try:
            handle = await session.aget(HANDLE_KEY)
        except Exception as error:
            handle = None
            setattr(request, PROBLEM_ATTRIBUTE, _unreadable(error))
        if isinstance(handle, str) and handle:
            manager = runtime.async_manager.using(store_for(request, runtime))
            try:
                loaded: ActiveSession | Exception | None = await manager.get(handle)
            except SESSION_PROBLEMS as error:
                loaded = error
            for signal, arguments in self._publish(request, runtime, loaded):
                await signal.asend_robust(sender=type(self), request=request, **arguments)
            if loaded is None:
                await request.session.apop(HANDLE_KEY, None)
        response: HttpResponse = await self.get_response(request)
        store = used_store(request)
        if store is not None:
            await store.abefore_save(response.status_code)
        return response

    def _publish(
        self, request: HttpRequest, runtime: Runtime, loaded: ActiveSession | Exception | None
    ) -> list[tuple[Any, dict[str, Any]]]:
        """Set ``request.redtrust`` from the loaded session; the signals to send."""
        proceed = runtime.gate.after_load(loaded)
        context = proceed.context
        if context is not None:
            context = replace(context, client=self._client(runtime, context))
            request.redtrust = context  # type: ignore[attr-defined]
            if context.refreshed:
                return [(signals.token_refreshed, {"context": context})]
            return []
        if proceed.problem is not None:
            setattr(request, PROBLEM_ATTRIBUTE, proceed.problem)
            return [(signals.refresh_failed, {"error": proceed.problem})]
        if not self.async_mode:
            request.session.pop(HANDLE_KEY, None)
        return [(signals.redtrust_logged_out, {"reason": "ended"})]

    def _client(self, runtime: Runtime, context: RedtrustContext) -> Any:
        """The app's client bound to this user, for the mode this request runs in."""
        if self.async_mode:
            return AsyncUserClient(runtime.async_manager.client, context.tokens)
        return UserClient(runtime.sync_manager.client, context.tokens)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Redtrust or the store failing inside a view: a clear 502/503, never a traceback."""
        if not isinstance(exception, _UNAVAILABLE):
            return None
        return http_response(get_runtime().gate.unavailable(web_request(request), exception))


def _unreadable(error: Exception) -> StoreError:
    return StoreError(f"the Django session is unavailable ({type(error).__name__})")


def _session(request: HttpRequest) -> Any:
    session = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured(
            "RedtrustMiddleware needs django.contrib.sessions.middleware.SessionMiddleware "
            "before it in MIDDLEWARE"
        )
    return session
