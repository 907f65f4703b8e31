"""``redtrust_required`` for function views (sync or async) and a mixin for class-based views.

A page navigation without a session gets a redirect to the login view with ``next``; an API
or fetch caller a 401 JSON with ``login_url``; a signed-in user whose session cannot be read
right now (Redtrust or the store down) a clear 503 with ``Retry-After``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse

from redtrust_middleware import AsyncUserClient

from ._web import bound_context, http_response, web_request
from .conf import get_runtime
from .middleware import PROBLEM_ATTRIBUTE

__all__ = ["RedtrustRequiredMixin", "redtrust_refusal", "redtrust_required"]

V = TypeVar("V", bound=Callable[..., Any])


def redtrust_refusal(request: HttpRequest) -> HttpResponse | None:
    """What to answer instead of a protected view, or None when signed in."""
    if not hasattr(request, "redtrust"):
        raise RuntimeError(
            "request.redtrust is missing: add redtrust_django.middleware.RedtrustMiddleware "
            "to MIDDLEWARE (after SessionMiddleware)"
        )
    if request.redtrust is not None:
        return None
    problem = getattr(request, PROBLEM_ATTRIBUTE, None)
    refusal = get_runtime().gate.refusal(web_request(request), request.get_full_path(), problem)
    return http_response(refusal)


def _sync_client(request: HttpRequest) -> None:
    """A sync view under ASGI gets the sync client: it runs in a worker thread, where the
    async client (bound to the server's event loop) cannot be awaited."""
    context = request.redtrust  # type: ignore[attr-defined]
    if isinstance(context.client, AsyncUserClient):
        client = get_runtime().sync_manager.client
        request.redtrust = bound_context(context, client)  # type: ignore[attr-defined]


def redtrust_required(view: V) -> V:
    """Let only signed-in users reach ``view`` (sync or async function views)."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            return redtrust_refusal(request) or await view(request, *args, **kwargs)

        return cast(V, async_wrapper)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        context = getattr(request, "redtrust", None)
        if context is None:  # not signed in (or no middleware: redtrust_refusal says so)
            return redtrust_refusal(request)
        if isinstance(context.client, AsyncUserClient):  # a sync view under ASGI
            _sync_client(request)
        return view(request, *args, **kwargs)

    return cast(V, wrapper)


class RedtrustRequiredMixin:
    """For class-based views (sync or async handlers): put it first among the bases."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        refusal = redtrust_refusal(request)
        if refusal is None:
            if not getattr(self, "view_is_async", False):
                _sync_client(request)
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        if getattr(self, "view_is_async", False):

            async def refused() -> HttpResponse:
                return refusal

            return refused()
        return refusal
