"""Keep the callback's one-time ``tkn`` (and its ``state``) out of access logs.

Redtrust sends the browser back to ``/redtrust/callback?state=...&tkn=...``: the temporary
token is a credential until it is exchanged, and access logs (uvicorn's, gunicorn's, Django's
``runserver``) write every URL. :class:`RedactCallbackQuery` rewrites both values to
``[redacted]`` in the records of those loggers; :func:`redact_access_logs` installs it::

    from redtrust_middleware.logfilter import redact_access_logs
    redact_access_logs()  # uvicorn.access, gunicorn.access, hypercorn.access, django.server

The Django app installs it on ``django.server`` itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ACCESS_LOGGERS", "REDACTED", "RedactCallbackQuery", "redact", "redact_access_logs"]

#: What a redacted value reads as.
REDACTED = "[redacted]"
#: The access loggers of the servers apps run under.
ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "hypercorn.access", "django.server")
# A tkn= or state= parameter: at the start of a query, after ?, & or ;, or after a space or a
# quote (a request line, a query atom); its value runs to the next separator.
_PARAMETER = re.compile(r"""(?<![^\s?&;"'])((?:tkn|state)=)[^&\s"'#;]+""", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every ``tkn`` and ``state`` query value replaced by :data:`REDACTED`."""
    if "=" not in text:
        return text
    return _PARAMETER.sub(lambda found: found.group(1) + REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactCallbackQuery(logging.Filter):
    """A filter that removes ``tkn`` and ``state`` values from a log record.

    It rewrites the message and its arguments, whatever their shape: uvicorn's tuple
    ``(client, method, path_with_query, http_version, status)``, Django's ``runserver``
    ``(request_line, status, size)``, gunicorn's mapping of atoms (``r``, ``q``, ``f``...,
    changed in place so its type and defaults stay). It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; always keep it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(value) for value in args)
        elif isinstance(args, dict):
            for key, value in args.items():
                if isinstance(value, str):
                    args[key] = redact(value)
        return True


def redact_access_logs(names: Iterable[str] = ACCESS_LOGGERS) -> None:
    """Install :class:`RedactCallbackQuery` on the loggers ``names`` (once each).

    A filter on a logger sees the records logged on it, which is how these servers log
    their access lines. Call it where the app is built (or in a gunicorn config file).
    """
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCallbackQuery) for f in logger.filters):
            logger.addFilter(RedactCallbackQuery())
