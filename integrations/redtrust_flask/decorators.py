"""``@redtrust_required`` and ``current_redtrust``: the signed-in user in views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, has_request_context, request
from werkzeug.local import LocalProxy

from redtrust_middleware.web import RedtrustContext, WebResponse
from redtrust_middleware.wsgi import ENVIRON_KEY, PROBLEM_KEY, request_from_environ, request_uri

from .extension import state, to_response

__all__ = ["current_redtrust", "get_redtrust", "redtrust_required", "refusal"]

F = TypeVar("F", bound=Callable[..., Any])


def get_redtrust() -> RedtrustContext | None:
    """The signed-in context of the current request (``g.redtrust``), or None; None outside
    a request too (Flask-Login's ``current_user`` convention).

    Until the extension's ``before_request`` hook has set ``g.redtrust`` (hooks run in the
    order they were registered, so an app's own hook may come first), it is read where the
    middleware put it before Flask ran: the request's environ.
    """
    if not has_request_context():
        return None
    if "redtrust" in g:
        return cast("RedtrustContext | None", g.redtrust)
    return cast("RedtrustContext | None", request.environ.get(ENVIRON_KEY))


#: The signed-in context of the current request, or None (Flask-Login's ``current_user``
#: style): ``current_redtrust.access_token`` is fresh, ``current_redtrust.client`` is the
#: :class:`~redtrust_middleware.UserClient` bound to it.
current_redtrust: RedtrustContext = cast(RedtrustContext, LocalProxy(get_redtrust))


def refusal() -> WebResponse | None:
    """What to answer instead of a protected view, or None when signed in.

    A page navigation gets a 302 to the login route with ``next``; an API or fetch caller a
    401 JSON with ``login_url``; a signed-in user whose session cannot be read right now a
    clear 503.
    """
    if get_redtrust() is not None:
        return None
    environ = request.environ
    return state().gate.refusal(
        request_from_environ(environ), request_uri(environ), environ.get(PROBLEM_KEY)
    )


def redtrust_required(view: F) -> F:
    """Let only signed-in users reach ``view`` (sync, or async with ``flask[async]``)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        answer = refusal()
        if answer is not None:
            return to_response(answer)
        return current_app.ensure_sync(view)(*args, **kwargs)

    return cast(F, wrapper)
