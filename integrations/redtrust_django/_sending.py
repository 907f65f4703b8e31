"""Sending the library's signals: robustly, each failing receiver logged by its type only.

A failing receiver must not undo what was done (a sign-in, a sign-out), nor show a page's
URL on an error page, so the signals are sent with ``send_robust``. Django logs each failure
there too, on ``django.dispatch``, with the exception's message and traceback, which may
quote a token: while the library sends a signal, :class:`QuietSendFailures` drops those
records, and the library logs the failure itself (``redtrust.hook.failed``: the receiver,
the error's type).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from django.dispatch import Signal

from redtrust_middleware.logevents import log

from . import signals

__all__ = ["QuietSendFailures", "asend_logged", "quiet_send_failures", "send_logged"]

#: How each signal is named in the library's log lines (``hook``).
_NAMES = {
    signals.redtrust_logged_in: "redtrust_logged_in",
    signals.redtrust_logged_out: "redtrust_logged_out",
    signals.token_refreshed: "token_refreshed",
    signals.refresh_failed: "refresh_failed",
}
#: True while the library sends one of its signals (in this thread or task, and in the
#: threads asgiref runs sync receivers in: it copies the context there).
_SENDING: ContextVar[bool] = ContextVar("redtrust_django_sending", default=False)


class QuietSendFailures(logging.Filter):
    """On ``django.dispatch``: drops the record of a receiver failing in a signal the library
    sends (the library logs it by type); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _SENDING.get()


def quiet_send_failures() -> None:
    """Install :class:`QuietSendFailures` on ``django.dispatch`` (once)."""
    logger = logging.getLogger("django.dispatch")
    if not any(isinstance(f, QuietSendFailures) for f in logger.filters):
        logger.addFilter(QuietSendFailures())


def _log_failures(logger: logging.Logger, signal: Signal, results: list[tuple[Any, Any]]) -> None:
    for receiver, result in results:
        if isinstance(result, Exception):
            log(
                logger,
                "redtrust.hook.failed",
                "redtrust: signal receiver %r failed (%s); ignored",
                receiver,
                type(result).__name__,
                hook=_NAMES.get(signal, "signal"),
                error_type=type(result).__name__,
            )


def send_logged(logger: logging.Logger, signal: Signal, sender: Any, **arguments: Any) -> None:
    """``signal.send_robust(sender, **arguments)``, each failure logged on ``logger``."""
    sending = _SENDING.set(True)
    try:
        results = signal.send_robust(sender=sender, **arguments)
    finally:
        _SENDING.reset(sending)
    _log_failures(logger, signal, results)


async def asend_logged(
    logger: logging.Logger, signal: Signal, sender: Any, **arguments: Any
) -> None:
    """:func:`send_logged` with ``asend_robust``."""
    sending = _SENDING.set(True)
    try:
        results = await signal.asend_robust(sender=sender, **arguments)
    finally:
        _SENDING.reset(sending)
    _log_failures(logger, signal, results)
