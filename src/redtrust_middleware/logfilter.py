"""Keep the callback's one-time ``tkn`` (and its ``state``) out of access logs.

Redtrust sends the browser back to ``/redtrust/callback?state=...&tkn=...``: the temporary
token is a credential until it is exchanged, and access logs (uvicorn's, gunicorn's, Django's
``runserver``) write every URL. :class:`RedactCallbackQuery` rewrites both values to
``[redacted]`` in the records of those loggers; :func:`redact_access_logs` installs it::

    from redtrust_middleware.logfilter import redact_access_logs
    redact_access_logs()  # uvicorn.access, gunicorn.access, hypercorn.access, django.server

The Django app installs it on ``django.server`` itself.

:class:`JsonFormatter` writes each record as one JSON object, the library's fields
(:mod:`redtrust_middleware.logevents`) as keys, with the same redaction::

    handler.setFormatter(JsonFormatter())
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACCESS_LOGGERS",
    "REDACTED",
    "JsonFormatter",
    "RedactCallbackQuery",
    "redact",
    "redact_access_logs",
]

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


# What every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, then every field given with ``extra=`` (the library's ``redtrust_*``), and
    ``exception`` when the record has one. Standard library only.

    The message and text fields go through :func:`redact`, so a ``tkn`` or ``state`` in an
    access line never reaches the output. Values JSON cannot hold are written as ``str``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line:
                line[name] = _redacted(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)
