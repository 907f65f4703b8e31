"""Django's own logout ends the browser's Redtrust session too.

``django.contrib.auth.logout`` (the admin's "Log out", ``LogoutView``, a site's own view)
flushes the Django session, and the Redtrust session's handle with it: without this, the
session would live on at Redtrust, its refresh token valid, until it expires. So before the
flush (``user_logged_out`` is sent first), the session is ended here and at Redtrust, as the
library's logout view ends it, ``request.redtrust`` becomes None, and ``redtrust_logged_out``
is sent with ``reason="logout"`` (``sender``: ``django.contrib.auth.logout``).

Django's logout goes on when ending the session fails (Redtrust, the store, the
``REDTRUST`` setting): that is logged and the session's record goes with the flushed
session (at Redtrust it ends when it expires). The library's own calls to Django's logout
(``_users``) keep the Redtrust session.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.contrib import auth
from django.http import HttpRequest

from redtrust_middleware import LogoutEvent
from redtrust_middleware.logevents import log

from . import signals
from ._hooks import recording_events
from ._sending import send_logged
from ._users import OWN_LOGOUT, own_logout
from ._web import HANDLE_KEY, store_for
from .conf import get_runtime

__all__ = ["django_logged_out"]

logger = logging.getLogger(__name__)


def django_logged_out(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    """``user_logged_out``: end the Redtrust session of ``request``'s browser, if it has one
    (sync: under ``alogout`` Django runs it in ``sync_to_async``, as the library's views)."""
    # A DRF view's logout gets DRF's Request: the Django request is what the middleware saw.
    request = cast("HttpRequest | None", getattr(request, "_request", request))
    if request is None or getattr(request, OWN_LOGOUT, False):
        return
    session: Any = getattr(request, "session", None)
    if session is None:
        return
    try:
        handle = session.get(HANDLE_KEY)
    except Exception:  # the session engine is down: Django's logout fails on it (its flush)
        return
    if not isinstance(handle, str) or not handle:
        return  # no Redtrust session: a password user's logout
    request.redtrust = None  # type: ignore[attr-defined]  # for the rest of the view, always
    try:
        runtime = get_runtime()
        manager = runtime.sync_manager.using(store_for(request, runtime))
        with recording_events() as recorder:
            ended = manager.logout(handle)  # a failing remote logout is logged inside
        session.pop(HANDLE_KEY, None)
    except Exception as error:  # Django's logout goes on whatever failed here
        log(
            logger,
            "redtrust.django.logout_failed",
            "redtrust: Django's logout could not end the Redtrust session (%s); "
            "it ends at Redtrust when it expires",
            type(error).__name__,
            error_type=type(error).__name__,
        )
        return
    if ended:
        # This is Django's logout already: the receivers (``_users.signed_out``) must not
        # log the user out again.
        with own_logout(request):
            send_logged(
                logger,
                signals.redtrust_logged_out,
                auth.logout,
                request=request,
                reason="logout",
                event=recorder.last(LogoutEvent),
            )
