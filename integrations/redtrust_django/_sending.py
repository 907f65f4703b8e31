"""Sending the library's signals robustly, each failing receiver logged by its type only.

A failing receiver must not undo what was done (a sign-in, a sign-out), nor show a page's
URL on an error page, so the signals are sent with ``send_robust``; the library logs each
failure (``redtrust.hook.failed``: the receiver, the error's type, never its message, which
may quote a token), and Django does not (:mod:`.signals`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from redtrust_middleware.logevents import log

from . import signals

__all__ = ["asend_logged", "send_logged"]

#: How each signal is named in the library's log lines (``hook``).
_NAMES: dict[Signal, str] = {
    signals.redtrust_logged_in: "redtrust_logged_in",
    signals.redtrust_logged_out: "redtrust_logged_out",
    signals.token_refreshed: "token_refreshed",
    signals.refresh_failed: "refresh_failed",
}


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
    _log_failures(logger, signal, signal.send_robust(sender=sender, **arguments))


async def asend_logged(
    logger: logging.Logger, signal: Signal, sender: Any, **arguments: Any
) -> None:
    """:func:`send_logged` with ``asend_robust``."""
    _log_failures(logger, signal, await signal.asend_robust(sender=sender, **arguments))
