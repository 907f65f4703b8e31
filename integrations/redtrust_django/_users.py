"""Django's own sign-in kept in step with Redtrust's, when a ``RedtrustBackend`` is on.

- A Redtrust sign-in (``redtrust_logged_in``) logs its Django user in with
  ``django.contrib.auth.login``; when the backend finds none, whoever was logged in before is
  logged out: a browser is never another user's Django session after a Redtrust sign-in.
- A Redtrust sign-out (``redtrust_logged_out``) logs the Django user out.
- On every request, a Django user logged in by a ``RedtrustBackend`` whose request has no
  Redtrust session any more (it ended, expired, was refused by Redtrust, or its handle is
  gone) is logged out; one whose session merely could not be read just now (Redtrust or the
  store unavailable) stays logged in.

``login`` and ``logout`` flush the Django session when it holds another user; Redtrust's own
entries (the handle of the sign-in in progress, pending logins) are carried over the flush.
While these logouts run, the request is marked (:data:`OWN_LOGOUT`): they keep the Redtrust
session, or follow its end, so ``_logout`` does not end it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.utils.module_loading import import_string

from redtrust_middleware.logevents import log

__all__ = [
    "OWN_LOGOUT",
    "areconcile",
    "backend_enabled",
    "own_logout",
    "reconcile",
    "signed_in",
    "signed_out",
]

logger = logging.getLogger(__name__)
#: Prefix of the ``request.session`` entries that are Redtrust's (``_web.HANDLE_KEY``...).
_OURS = "_redtrust"
#: The Django user a ``RedtrustBackend`` had logged in when the request came (a sign-out
#: flushes the session before ``redtrust_logged_out`` is sent).
_SEEN = "_redtrust_django_user"
#: The request attribute set while the library itself logs the Django user out (or while
#: Django's logout already ends the Redtrust session): no Redtrust session is ended for it.
OWN_LOGOUT = "_redtrust_own_logout"


@lru_cache(maxsize=64)
def is_redtrust_backend(path: str) -> bool:
    """True when the dotted ``path`` names :class:`RedtrustBackend` or a subclass."""
    from .backends import RedtrustBackend

    try:
        found = import_string(path)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, RedtrustBackend)


def backend_enabled() -> bool:
    """True when ``AUTHENTICATION_BACKENDS`` lists a ``RedtrustBackend``."""
    return any(is_redtrust_backend(path) for path in settings.AUTHENTICATION_BACKENDS)


@contextmanager
def own_logout(request: Any) -> Iterator[None]:
    """Mark ``request`` with :data:`OWN_LOGOUT` meanwhile (inside another such block, the
    outer one keeps its mark)."""
    if getattr(request, OWN_LOGOUT, False):
        yield
        return
    setattr(request, OWN_LOGOUT, True)
    try:
        yield
    finally:
        with suppress(AttributeError):
            delattr(request, OWN_LOGOUT)


def _carried(request: HttpRequest, call: Any, *arguments: Any) -> None:
    """``call(request, *arguments)`` (Django's login or logout), keeping Redtrust's session
    entries, and the Redtrust session itself."""
    session = request.session
    kept = {key: value for key, value in session.items() if key.startswith(_OURS)}
    try:
        with own_logout(request):
            call(request, *arguments)
    finally:
        for key, value in kept.items():
            session[key] = value


def signed_in(request: HttpRequest, context: Any = None, **_: Any) -> None:
    """``redtrust_logged_in``: log the Django user of ``context`` in (views are sync)."""
    if not backend_enabled():
        return
    session = request.session
    user = None
    if context is not None:
        try:
            user = auth.authenticate(request, redtrust=context)
        except Exception as error:  # the database is down: no Django user this time
            log(
                logger,
                "redtrust.django.backend_failed",
                "redtrust: no Django user logged in (%s)",
                type(error).__name__,
                error_type=type(error).__name__,
            )
    if user is not None:
        _carried(request, auth.login, user)
    elif auth.SESSION_KEY in session:
        _carried(request, auth.logout)


def _seen(session_backend: Any, session_user: Any) -> tuple[str, str] | None:
    if isinstance(session_backend, str) and is_redtrust_backend(session_backend):
        return str(session_user), session_backend
    return None


def signed_out(request: HttpRequest, **_: Any) -> None:
    """``redtrust_logged_out``: log out the Django user a ``RedtrustBackend`` logged in."""
    if getattr(request, OWN_LOGOUT, False):  # sent from within Django's logout (``_logout``)
        return
    session = request.session
    seen = _seen(session.get(auth.BACKEND_SESSION_KEY), session.get(auth.SESSION_KEY))
    seen = seen or getattr(request, _SEEN, None)
    if seen is None:
        return
    if auth.SESSION_KEY not in session and hasattr(request, "user"):
        # The sign-out view flushed the session first: user_logged_out still names the user.
        user = auth.load_backend(seen[1]).get_user(seen[0])
        if user is not None:
            request.user = user
    _carried(request, auth.logout)


def reconcile(request: HttpRequest, *, keep: bool) -> None:
    """After the middleware read the Redtrust session: log out the Django user of a
    ``RedtrustBackend`` unless ``keep`` (signed in, or the session could not be read)."""
    session = request.session
    try:
        # The middleware's read of the handle loaded the session: its dict, read as it is.
        loaded = getattr(session, "_session_cache", None)
        backend = (session if loaded is None else loaded).get(auth.BACKEND_SESSION_KEY)
        if backend is None:  # no Django user: the usual case, one lookup
            return
        seen = _seen(backend, session.get(auth.SESSION_KEY))
    except Exception:  # the session engine is down: the middleware reported it
        return
    if seen is None:
        return
    setattr(request, _SEEN, seen)
    if not keep:
        _carried(request, auth.logout)


async def areconcile(request: HttpRequest, *, keep: bool) -> None:
    """:func:`reconcile` for async requests (``auth.alogout``)."""
    session = request.session
    try:
        seen = _seen(
            await session.aget(auth.BACKEND_SESSION_KEY), await session.aget(auth.SESSION_KEY)
        )
    except Exception:
        return
    if seen is None:
        return
    setattr(request, _SEEN, seen)
    if keep:
        return
    kept = {key: value for key, value in await session.aitems() if key.startswith(_OURS)}
    try:
        with own_logout(request):
            await auth.alogout(request)
    finally:
        for key, value in kept.items():
            await session.aset(key, value)
