"""The library's log records: one list of their events, and the fields each carries.

Every record the library logs keeps its human message and carries fields (``extra=``) that a
JSON formatter emits as keys: ``redtrust_event`` always, a stable dotted name from
:data:`EVENTS`, and the :data:`FIELDS` that apply to it (a field that does not apply is
absent, never ``None``). The names are flat and prefixed ``redtrust_``: no clash with a
``LogRecord`` attribute (``extra={"message": ...}`` raises ``KeyError``), one query key per
field in a log store, and plain values (str, int, float) that every JSON formatter
(:class:`~redtrust_middleware.logfilter.JsonFormatter`, python-json-logger, structlog's
``ExtraAdder``) and OpenTelemetry's logging handler keep as they are::

    {"message": "redtrust: refresh failed (APIError, rejected)",
     "redtrust_event": "redtrust.refresh.failed", "redtrust_outcome": "rejected",
     "redtrust_session": "3f9c0a51e2b4d7a8", "redtrust_error_type": "APIError",
     "redtrust_code": "INVALID_REFRESH_TOKEN", "redtrust_status": 401, ...}

No field holds a secret: a session is named by :func:`~.session.records.session_tag` (a
labelled hash of its handle, not the handle nor its store key), an error by its type and
Redtrust's error code (never its message, which may quote what was sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .exceptions import APIError, UpstreamError

__all__ = ["EVENTS", "FIELDS", "PREFIX", "EventSpec", "error_fields", "log", "since"]

#: What every field name starts with.
PREFIX = "redtrust_"

#: The fields a record may carry (each as ``PREFIX + name``), and what each holds.
FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "event": "the event's stable dotted name (always present)",
        "outcome": "how the operation ended: refreshed, joined, rejected, transient, "
        "unknown (refresh); ok, error (Redtrust calls)",
        "reason": "why: a LogoutReason (signed_out, refresh_rejected, token_expired, "
        "idle_timeout, absolute_timeout, expired) or a refusal's code (NO_PENDING_LOGIN ...)",
        "session": "the session's tag: 16 hex digits of a labelled hash of its handle",
        "partner": "the partner name the call was signed as",
        "operation": "the Redtrust call (exchange, refresh, logout, login, csr_create, "
        "csr_finalize) or the store operation",
        "status": "the HTTP status Redtrust answered (int)",
        "code": "Redtrust's error code (the envelope's errorCode), on an error answer",
        "error_type": "the exception's class name",
        "latency_ms": "milliseconds the Redtrust call took (float, 0.1 ms)",
        "hook": "the hook that failed (on_login, on_refresh, on_logout, a Django signal)",
    }
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event: its level, the fields it carries when they apply, and what it means."""

    level: int
    fields: tuple[str, ...]
    means: str


_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR
_CALL = ("operation", "partner", "outcome", "status", "code", "error_type", "latency_ms")
_FAILED = ("error_type", "code", "status")

#: Every event the library logs, by name: the one list the docs and the tests read.
EVENTS: Mapping[str, EventSpec] = MappingProxyType(
    {
        # signing in
        "redtrust.login.started": EventSpec(_D, (), "a pending login was written"),
        "redtrust.login.completed": EventSpec(
            _I, ("session", "latency_ms"), "a callback opened a new session"
        ),
        "redtrust.login.refused": EventSpec(
            _W, ("reason",), "a callback was refused (reason: its code)"
        ),
        "redtrust.login.failed": EventSpec(
            _W, _FAILED, "a callback could not be completed (Redtrust, store)"
        ),
        "redtrust.login.moved": EventSpec(_I, (), "a sign-in moved to REDTRUST_PUBLIC_URL"),
        "redtrust.login.foreign_host": EventSpec(
            _W, (), "a sign-in started at another address than REDTRUST_PUBLIC_URL"
        ),
        # refreshing
        "redtrust.refresh.completed": EventSpec(
            _I, ("outcome", "session", "latency_ms"), "this process refreshed a session"
        ),
        "redtrust.refresh.joined": EventSpec(
            _D, ("outcome", "session"), "a refresh found the session already refreshed"
        ),
        "redtrust.refresh.failed": EventSpec(
            _W,
            ("outcome", "session", *_FAILED, "latency_ms"),
            "a refresh failed: rejected (session over), transient or unknown",
        ),
        "redtrust.refresh.not_saved": EventSpec(
            _W, ("session",), "refreshed tokens could not be saved; served until saved"
        ),
        "redtrust.refresh.superseded": EventSpec(
            _I, ("session",), "the session ended while it was being refreshed"
        ),
        "redtrust.refresh.lease_not_renewed": EventSpec(
            _W, ("error_type",), "a refresh lock's lease could not be renewed"
        ),
        # signing out
        "redtrust.logout": EventSpec(_I, ("reason", "session"), "a session ended"),
        "redtrust.logout.remote_failed": EventSpec(
            _W, _FAILED, "the logout at Redtrust failed; the session ended here"
        ),
        "redtrust.signout.refused": EventSpec(
            _I, ("reason",), "a sign-out without proof that it came from this site"
        ),
        # serving requests
        "redtrust.session.unavailable": EventSpec(
            _W, ("error_type",), "a session could not be loaded (store, Redtrust)"
        ),
        "redtrust.store.failed": EventSpec(
            _W, ("operation", "error_type"), "a best-effort store write failed"
        ),
        "redtrust.store.tracking_off": EventSpec(
            _W, ("error_type",), "the Redis client-side cache is off (no invalidations)"
        ),
        "redtrust.hook.failed": EventSpec(_E, ("hook", "error_type"), "a hook raised; ignored"),
        # Redtrust calls
        "redtrust.call": EventSpec(_D, _CALL, "one attempt of a Redtrust call"),
        "redtrust.ra.completed": EventSpec(_I, _CALL, "a certificate call (RA API) succeeded"),
        "redtrust.ra.failed": EventSpec(_W, _CALL, "a certificate call (RA API) failed"),
        "redtrust.ra.warning": EventSpec(
            _W, ("operation",), "a stored certificate's answer had an oddity"
        ),
        "redtrust.direct_login.completed": EventSpec(_I, _CALL, "a direct login succeeded"),
        "redtrust.direct_login.failed": EventSpec(_W, _CALL, "a direct login failed"),
        # configuration
        "redtrust.config.short_secret": EventSpec(_W, (), "shared_secret is short"),
        "redtrust.config.plain_http": EventSpec(_W, (), "server_url uses plain http"),
        "redtrust.config.tls_unverified": EventSpec(_W, (), "verify_tls is False"),
        "redtrust.config.weak_hash": EventSpec(_W, (), "hash_types accepts a weak hash"),
        "redtrust.config.ephemeral_keys": EventSpec(
            _I, (), "no encryption_keys: sessions end when the process restarts"
        ),
        "redtrust.config.short_token_lifetime": EventSpec(
            _W, (), "access tokens live no longer than refresh_leeway"
        ),
        # Django
        "redtrust.django.no_user": EventSpec(
            _W, ("reason",), "no Django user matches a sign-in (reason: which rule)"
        ),
        "redtrust.django.backend_failed": EventSpec(
            _E, ("error_type",), "the authentication backend raised (database down ...)"
        ),
        "redtrust.django.logout_failed": EventSpec(
            _W, ("error_type",), "Django's logout could not end the Redtrust session"
        ),
    }
)


def log(logger: logging.Logger, event: str, message: str, *args: object, **fields: object) -> None:
    """Log ``message % args`` as ``event``, at its level, with ``fields`` as prefixed extras.

    Fields whose value is None are left out. Nothing is built when the level is disabled.
    An event not in :data:`EVENTS`, or a field it does not list, is a bug: ``KeyError``.
    """
    spec = EVENTS[event]
    if not logger.isEnabledFor(spec.level):
        return
    extra: dict[str, object] = {PREFIX + "event": event}
    for name, value in fields.items():
        if name not in spec.fields:
            raise KeyError(f"{event} carries no field {name!r}")
        if value is not None:
            extra[PREFIX + name] = value
    logger.log(spec.level, message, *args, extra=extra, stacklevel=2)


def error_fields(error: BaseException) -> dict[str, object]:
    """The fields that name ``error``: its type, Redtrust's code and status (no message)."""
    return {
        "error_type": type(error).__name__,
        "code": error.code if isinstance(error, APIError) else None,
        "status": error.status if isinstance(error, UpstreamError) else None,
    }


def since(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.perf_counter` reading), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)
