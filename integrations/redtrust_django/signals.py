"""Signals sent by the Redtrust middleware and views (``send`` in sync mode, ``asend`` in async).

Every signal has ``sender`` (the ``RedtrustMiddleware`` or view function, or
``django.contrib.auth.logout`` when Django's own logout ended the session) and ``request``;
none carries a token in its ``repr``. A receiver that fails is logged by its exception's
type (``redtrust.hook.failed``), never its message, and the rest goes on.
``redtrust_logged_in``, ``token_refreshed`` and ``redtrust_logged_out`` also carry
``event``: the core's hook event behind them
(:class:`~redtrust_middleware.LoginEvent`, :class:`~redtrust_middleware.RefreshEvent`,
:class:`~redtrust_middleware.LogoutEvent` with its precise ``reason``; None when the core
did not tell one, as for a sign-out with no session left).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

__all__ = ["redtrust_logged_in", "redtrust_logged_out", "refresh_failed", "token_refreshed"]


class _Signal(Signal):
    """A signal whose failing receivers Django does not log: Django's line would carry the
    exception's message and traceback, which may quote a token. The library sends these
    signals robustly and logs each failure itself, by type (``redtrust.hook.failed``)."""

    def _log_robust_failure(self, receiver: Any, err: Exception) -> None:
        pass  # the one hook Django 5.2 and 6 call for it (a test sees Django's line if not)


#: A user completed a sign-in; ``context`` is the new :class:`RedtrustContext`.
redtrust_logged_in = _Signal()
#: The user's token was refreshed at Redtrust while serving ``request`` (once per refresh:
#: not for the requests that waited for it); ``context`` has the new one.
token_refreshed = _Signal()
#: The session could not be refreshed just now (it is kept); ``error`` says why.
refresh_failed = _Signal()
#: A user signed out (``reason="logout"``: the logout view, or Django's own logout, from
#: within it, before it flushes the session) or the session ended (``reason="ended"``:
#: refresh token rejected, idle or absolute timeout; ``event.reason`` tells which).
redtrust_logged_out = _Signal()
