"""OpenTelemetry spans and metrics of sign-ins, refreshes, sign-outs and Redtrust calls.

Everything here works through the OpenTelemetry *API* only (the ``otel`` extra:
``pip install 'redtrust-middleware[otel]'``); the app installs the SDK and chooses where the
data goes. Without ``opentelemetry-api`` installed, every function here does nothing and
costs a global lookup: the library has no dependency on it.

What is emitted is listed once, in :data:`SPANS` and :data:`METRICS` (docs/observability.md
is written from the same lists, and the tests check both). A session is named at most by
its :func:`~redtrust_middleware.session.records.session_tag`; no token, ``tkn``, ``state``,
secret, HMAC or cookie value is ever an attribute, and an exception's message (which may
quote an upstream answer) is never recorded: only its type.

Each operation is instrumented once, in the core: the session managers (sign-in, refresh,
sign-out, store operations) and the clients (every Redtrust call, certificate enrolment),
so every face (ASGI, WSGI, Starlette, FastAPI, Flask, Django) emits the same telemetry.
Store operations get spans only inside a span that is being recorded (a sampled request):
an unsampled request pays one context lookup for them (see :func:`recording`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from .exceptions import (
    APIError,
    CallbackError,
    OutcomeUnknownError,
    TransportError,
)

try:  # the optional `otel` extra
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - covered in a subprocess without the package
    _otel_metrics = None  # type: ignore[assignment]
    _otel_trace = None  # type: ignore[assignment]

__all__ = [
    "AVAILABLE",
    "INSTRUMENTATION_NAME",
    "METRICS",
    "SPANS",
    "ApiOutcome",
    "MetricSpec",
    "RefreshOutcome",
    "RefreshWatch",
    "SpanSpec",
    "api_call",
    "api_outcome",
    "count_ended",
    "current_context",
    "login_callback",
    "login_start",
    "logout",
    "operation",
    "record_waiters",
    "recording",
    "store_failed",
    "store_operation",
    "store_span",
    "use",
]

T = TypeVar("T")

#: True when ``opentelemetry-api`` is importable (the ``otel`` extra).
AVAILABLE = _otel_trace is not None
#: The instrumentation scope of every tracer and meter here.
INSTRUMENTATION_NAME = "redtrust_middleware"


class RefreshOutcome(enum.StrEnum):
    """What one request's refresh came to (``redtrust.refresh.outcome``)."""

    #: This worker called Redtrust and got new tokens.
    REFRESHED = "refreshed"
    #: Another worker (thread, task or process) refreshed the session; no call here.
    JOINED = "joined"
    #: Redtrust refused the refresh token: the session ended.
    REJECTED = "rejected"
    #: The call failed and Redtrust certainly did not rotate: the session is kept, and
    #: refreshes of it pause for a cool-down.
    TRANSIENT = "transient"
    #: The call may have reached Redtrust and rotated: the refresh token is spent.
    UNKNOWN = "unknown"
    #: No call now: cooling down after a transient failure, or another worker's refresh
    #: still runs; the still-valid token was served (or the request was asked to retry).
    DEFERRED = "deferred"
    #: The session had ended (signed out, timed out, no refresh token left) when re-read.
    ENDED = "ended"


class ApiOutcome(enum.StrEnum):
    """What one Redtrust call came to (``redtrust.outcome`` of the API metrics and spans)."""

    OK = "ok"
    #: Redtrust refused it (a 400/401/403 error envelope).
    REJECTED = "rejected"
    #: Another error answer, an unreadable answer, or unusable tokens in it.
    FAILED = "failed"
    #: The request never reached Redtrust (connection refused, DNS): safe to retry.
    UNREACHABLE = "unreachable"
    #: The request may have reached Redtrust, no answer came back (a timeout, a lost
    #: connection, an unrepeatable call's lost answer).
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its OpenTelemetry name, instrument, unit, attributes and meaning."""

    name: str
    instrument: str  # "counter" or "histogram"
    unit: str
    description: str
    attributes: tuple[str, ...] = ()
    #: Explicit histogram bucket boundaries (an advisory the SDK applies unless a view
    #: overrides it).
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SpanSpec:
    """One span: its name, kind and the attributes it may carry."""

    name: str
    kind: str  # "internal" or "client"
    description: str
    attributes: tuple[str, ...] = ()


#: Seconds: a remote call over the internet, from a fast answer to the refresh deadline.
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Requests that waited on one refresh (a storm on one session is tens, rarely more).
_WAITER_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)

#: Every metric the library records.
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "redtrust.refreshes",
        "counter",
        "{refresh}",
        "Requests whose session needed a refresh, by what it came to.",
        ("redtrust.refresh.outcome",),
    ),
    MetricSpec(
        "redtrust.refresh.duration",
        "histogram",
        "s",
        "Duration of the refresh calls this process made to Redtrust.",
        ("redtrust.refresh.outcome",),
        _CALL_BUCKETS,
    ),
    MetricSpec(
        "redtrust.refresh.waiters",
        "histogram",
        "{request}",
        "Requests that waited for one single-flight refresh call instead of making their own.",
        (),
        _WAITER_BUCKETS,
    ),
    MetricSpec("redtrust.logins.started", "counter", "{login}", "Sign-ins sent to Redtrust."),
    MetricSpec(
        "redtrust.logins.completed", "counter", "{login}", "Sign-ins completed: a new session."
    ),
    MetricSpec(
        "redtrust.logins.refused",
        "counter",
        "{login}",
        "Callbacks refused (malformed, expired or replayed, refused by Redtrust), by reason.",
        ("redtrust.login.reason",),
    ),
    MetricSpec(
        "redtrust.logins.failed",
        "counter",
        "{login}",
        "Callbacks that failed on an outage (Redtrust or the store), by error type.",
        ("error.type",),
    ),
    MetricSpec(
        "redtrust.sessions.ended",
        "counter",
        "{session}",
        "Sessions that ended, by reason (signed out, refresh rejected, timeouts, ...).",
        ("redtrust.logout.reason",),
    ),
    MetricSpec(
        "redtrust.store.errors",
        "counter",
        "{error}",
        "Store operations that failed (the store unreachable or refusing), by operation.",
        ("redtrust.store.operation",),
    ),
    MetricSpec(
        "redtrust.api.calls",
        "counter",
        "{call}",
        "Calls to Redtrust (sign-in exchange, refresh, sign-out, direct login, certificate "
        "requests), by operation and outcome.",
        ("redtrust.operation", "redtrust.outcome"),
    ),
    MetricSpec(
        "redtrust.api.duration",
        "histogram",
        "s",
        "Duration of the calls to Redtrust, retries included.",
        ("redtrust.operation", "redtrust.outcome"),
        _CALL_BUCKETS,
    ),
    MetricSpec(
        "redtrust.api.errors",
        "counter",
        "{error}",
        "Error envelopes Redtrust answered, by operation and error code.",
        ("redtrust.operation", "redtrust.error.code"),
    ),
)

_API_ATTRIBUTES = (
    "redtrust.operation",
    "redtrust.partner",
    "redtrust.outcome",
    "http.request.method",
    "server.address",
    "server.port",
    "http.response.status_code",
    "redtrust.error.code",
    "error.type",
)
#: Every span the library starts.
SPANS: tuple[SpanSpec, ...] = (
    SpanSpec(
        "redtrust.login.start",
        "internal",
        "A sign-in starts: pending login, redirect.",
        ("error.type",),
    ),
    SpanSpec(
        "redtrust.login.callback",
        "internal",
        "The callback: the pending login taken, the exchange, the new session written.",
        ("redtrust.session.tag", "redtrust.login.reason", "error.type"),
    ),
    SpanSpec(
        "redtrust.session.refresh",
        "internal",
        "A request's refresh of its session (locks, re-read, the call), and its outcome.",
        ("redtrust.session.tag", "redtrust.refresh.outcome", "error.type"),
    ),
    SpanSpec(
        "redtrust.logout",
        "internal",
        "A sign-out: the session deleted here and ended at Redtrust.",
        ("redtrust.session.tag", "redtrust.logout.found", "error.type"),
    ),
    SpanSpec(
        "redtrust.certificate.enroll",
        "internal",
        "A new certificate: create, the partner's CA signs, finalize.",
        ("error.type",),
    ),
    SpanSpec(
        "redtrust.certificate.renew",
        "internal",
        "A certificate renewed: create (renewing a thumbprint), sign, finalize.",
        ("error.type",),
    ),
    *(
        SpanSpec(f"redtrust.api.{operation}", "client", what, _API_ATTRIBUTES)
        for operation, what in (
            ("exchange", "The callback's temporary token exchanged for a token set."),
            ("refresh", "A refresh call."),
            ("logout", "The session ended at Redtrust."),
            ("login", "A direct (server-to-server) login."),
            ("csr_create", "RA API: a key pair and CSR generated for the user."),
            ("csr_finalize", "RA API: the issued certificate stored with its key."),
        )
    ),
    SpanSpec(
        "redtrust.store.<operation>",
        "client",
        "One store operation (get, put, add, take, delete, delete_if, replace_if), only "
        "inside a span being recorded.",
        ("redtrust.store.operation", "redtrust.store.backend", "error.type"),
    ),
)

# -- the API, or nothing ----------------------------------------------------------------------

_tracer: Any = None
_instruments: dict[str, Any] | None = None
_tracer_provider: Any = None
_meter_provider: Any = None


def use(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send the library's spans and metrics to these providers rather than the global ones
    (``opentelemetry.trace.set_tracer_provider`` and ``metrics.set_meter_provider``, which
    are used by default); None for either goes back to the global one.

    For an app that keeps its providers to itself, and for tests (each with its own
    in-memory exporter and reader).
    """
    global _tracer, _instruments, _tracer_provider, _meter_provider
    _tracer_provider, _meter_provider = tracer_provider, meter_provider
    _tracer = _instruments = None


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        from . import __version__

        # A proxy until the app sets its provider: later spans go to that provider.
        provider = _tracer_provider or _otel_trace.get_tracer_provider()
        _tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
    return _tracer


def _record(name: str, value: float, attributes: Mapping[str, str] | None = None) -> None:
    """Add ``value`` to the counter ``name``, or record it in the histogram ``name``."""
    global _instruments
    if not AVAILABLE:
        return
    if _instruments is None:
        from . import __version__

        provider = _meter_provider or _otel_metrics.get_meter_provider()
        meter = provider.get_meter(INSTRUMENTATION_NAME, __version__)
        made: dict[str, Any] = {}
        for spec in METRICS:
            if spec.instrument == "counter":
                made[spec.name] = meter.create_counter(spec.name, spec.unit, spec.description)
            else:
                made[spec.name] = meter.create_histogram(
                    spec.name,
                    spec.unit,
                    spec.description,
                    explicit_bucket_boundaries_advisory=spec.buckets,
                )
        _instruments = made
    instrument = _instruments[name]
    if hasattr(instrument, "add"):
        instrument.add(value, attributes)
    else:
        instrument.record(value, attributes)


def _span_variable() -> tuple[Any, str] | None:
    """Where the current span is, or None without OpenTelemetry (or another layout).

    ``trace.get_current_span()`` costs four calls and an ABC ``isinstance``; with the
    default runtime context (contextvars) the span is one ``ContextVar.get`` and one
    dictionary lookup away, which is all a request that is not sampled should pay. Any
    other runtime context, or a future layout of these private names, falls back to the
    public call (:func:`recording`).
    """
    if not AVAILABLE:
        return None
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError:  # pragma: no cover - another API version
        return None
    if type(_RUNTIME_CONTEXT) is not ContextVarsRuntimeContext:  # pragma: no cover
        return None
    variable = getattr(_RUNTIME_CONTEXT, "_current_context", None)
    return None if variable is None else (variable, _SPAN_KEY)


_found = _span_variable()
_SPANS, _SPAN_KEY = _found if _found is not None else (None, "")
#: The current OpenTelemetry context's reader (``ContextVar.get``, no Python call) where the
#: fast way is available, else None. An empty context holds no span, so a hot path that
#: finds one empty need not call :func:`recording`.
current_context: Callable[[], Mapping[str, object]] | None = None if _SPANS is None else _SPANS.get
#: The public way, when the fast one is not available; None without OpenTelemetry.
_read_span: Callable[[], Any] | None = (
    _otel_trace.get_current_span if AVAILABLE and _SPANS is None else None
)


def recording() -> bool:
    """Whether the current span is being recorded (a sampled request): only then do the
    store operations get spans of their own."""
    variable = _SPANS
    if variable is not None:
        span = variable.get().get(_SPAN_KEY)
    elif _read_span is not None:  # pragma: no cover - another runtime context
        span = _read_span()
    else:
        return False
    return span is not None and span.is_recording() is True


def _error_type(error: BaseException) -> str:
    return type(error).__qualname__


def _set_failed(span: Any, error: BaseException) -> None:
    """Mark ``span`` failed with the exception's type; never its message or traceback."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", _error_type(error))
    span.set_status(Status(StatusCode.ERROR, _error_type(error)))


@contextmanager
def operation(
    name: str, attributes: Mapping[str, Any] | None = None, *, client: bool = False
) -> Iterator[Any]:
    """A span named ``name`` around the block (the span, or None without OpenTelemetry).

    An exception leaving the block marks the span failed with ``error.type`` (its type
    only) and goes on; the exception itself is not recorded (its message might quote an
    upstream answer).
    """
    if not AVAILABLE:
        yield None
        return
    kind = _otel_trace.SpanKind.CLIENT if client else _otel_trace.SpanKind.INTERNAL
    with _get_tracer().start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            _set_failed(span, error)
            raise


def _set(span: Any, key: str, value: Any) -> None:
    if span is not None:
        span.set_attribute(key, value)


# -- sign-in and sign-out ---------------------------------------------------------------------


@contextmanager
def login_start() -> Iterator[None]:
    """The span of a sign-in's start; counts it once the redirect is built."""
    with operation("redtrust.login.start"):
        yield
    _record("redtrust.logins.started", 1)


class _Named:
    """What a block learns about its session once it knows it (its tag)."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def session(self, tag: str) -> None:
        """Name the operation's session by its tag (never by its handle)."""
        _set(self.span, "redtrust.session.tag", tag)

    def set(self, key: str, value: Any) -> None:
        """Set one more attribute on the span."""
        _set(self.span, key, value)


@contextmanager
def login_callback() -> Iterator[_Named]:
    """The span of a callback; counts the sign-in completed, refused (by reason) or failed."""
    with operation("redtrust.login.callback") as span:
        named = _Named(span)
        try:
            yield named
        except CallbackError as refused:
            _set(span, "redtrust.login.reason", refused.code)
            _record("redtrust.logins.refused", 1, {"redtrust.login.reason": refused.code})
            raise
        except Exception as error:
            _record("redtrust.logins.failed", 1, {"error.type": _error_type(error)})
            raise
    _record("redtrust.logins.completed", 1)


@contextmanager
def logout(tag: str | None) -> Iterator[_Named]:
    """The span of a sign-out (``redtrust.logout.found``: whether there was a session)."""
    attributes = {} if tag is None else {"redtrust.session.tag": tag}
    with operation("redtrust.logout", attributes) as span:
        yield _Named(span)


def count_ended(reason: str) -> None:
    """Count a session that ended for ``reason`` (a :class:`~.hooks.LogoutReason`)."""
    _record("redtrust.sessions.ended", 1, {"redtrust.logout.reason": str(reason)})


# -- refresh ----------------------------------------------------------------------------------


class RefreshWatch:
    """One request's refresh: its span, its outcome, its metrics.

    The driver runs the refresh flow inside ``with RefreshWatch(...) as watch``, performs
    the flow's ``Refresh`` effect through :meth:`call` / :meth:`acall` and hands the flow's
    result to :meth:`result`; the outcome follows from what happened (see
    :class:`RefreshOutcome`). ``classify`` sorts a failed call (rejected, transient,
    unknown); it is the session layer's own, so both agree.
    """

    __slots__ = ("_classify", "_context", "_session", "called", "error", "outcome", "span")

    def __init__(
        self,
        tag: str,
        classify: Callable[[Exception], enum.Enum],
        *,
        outcome: RefreshOutcome | None = None,
    ) -> None:
        self._classify = classify
        self._context = operation("redtrust.session.refresh", {"redtrust.session.tag": tag})
        self._session: object = None
        self.called = False
        self.error: Exception | None = None
        self.outcome = outcome
        self.span: Any = None

    def __enter__(self) -> RefreshWatch:
        self.span = self._context.__enter__()
        return self

    def result(self, session: T) -> T:
        """The flow's result (an ActiveSession or None); returned as it is."""
        self._session = session
        return session

    def call(self, perform: Callable[[Any], T], effect: Any) -> T:
        """Perform the ``Refresh`` effect, timing it."""
        started = time.perf_counter()
        self.called = True
        try:
            return perform(effect)
        except Exception as error:
            self.error = error
            raise
        finally:
            self._timed(started)

    async def acall(self, perform: Callable[[Any], Awaitable[T]], effect: Any) -> T:
        """:meth:`call` for an async driver."""
        started = time.perf_counter()
        self.called = True
        try:
            return await perform(effect)
        except Exception as error:
            self.error = error
            raise
        finally:
            self._timed(started)

    def _timed(self, started: float) -> None:
        outcome = self._call_outcome()
        attributes = {"redtrust.refresh.outcome": outcome.value}
        _record("redtrust.refresh.duration", time.perf_counter() - started, attributes)

    def _call_outcome(self) -> RefreshOutcome:
        if self.error is None:
            return RefreshOutcome.REFRESHED
        return RefreshOutcome(self._classify(self.error).value)

    def _decide(self, error: BaseException | None) -> RefreshOutcome:
        if self.outcome is not None:
            return self.outcome
        if self.called:
            return self._call_outcome()
        if error is not None:
            return RefreshOutcome.DEFERRED  # asked to retry: someone else's refresh runs
        refreshed = getattr(self._session, "refreshed", None)
        if refreshed is None:
            return RefreshOutcome.ENDED
        return RefreshOutcome.JOINED if refreshed else RefreshOutcome.DEFERRED

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        outcome = self._decide(error)
        _set(self.span, "redtrust.refresh.outcome", outcome.value)
        _record("redtrust.refreshes", 1, {"redtrust.refresh.outcome": outcome.value})
        return self._context.__exit__(kind, error, traceback)


def record_waiters(count: int) -> None:
    """Record how many requests waited for one refresh call instead of making their own."""
    _record("redtrust.refresh.waiters", count)


# -- the store --------------------------------------------------------------------------------

_OPERATIONS = {
    "Get": "get",
    "Put": "put",
    "Add": "add",
    "Take": "take",
    "Delete": "delete",
    "DeleteIf": "delete_if",
    "ReplaceIf": "replace_if",
}


def store_operation(op: object) -> str:
    """The low-cardinality name of a store operation (``get``, ``replace_if``, ...)."""
    name = type(op).__name__
    return _OPERATIONS.get(name, name.lower())


def store_failed(operation_name: str) -> None:
    """Count a failed store operation."""
    _record("redtrust.store.errors", 1, {"redtrust.store.operation": operation_name})


def store_span(operation_name: str, store: object) -> Any:
    """The span of one store operation (call only when :func:`recording`)."""
    return operation(
        f"redtrust.store.{operation_name}",
        {
            "redtrust.store.operation": operation_name,
            "redtrust.store.backend": type(store).__name__,
        },
        client=True,
    )


# -- Redtrust calls ---------------------------------------------------------------------------


def api_outcome(error: BaseException | None) -> ApiOutcome:
    """What a call came to, from the error it raised (None: it succeeded)."""
    if error is None:
        return ApiOutcome.OK
    if isinstance(error, OutcomeUnknownError):
        return ApiOutcome.UNKNOWN
    if isinstance(error, APIError):
        return ApiOutcome.REJECTED if error.is_rejection else ApiOutcome.FAILED
    if isinstance(error, TransportError):
        return ApiOutcome.UNKNOWN if error.reached_server else ApiOutcome.UNREACHABLE
    return ApiOutcome.FAILED


class _Call:
    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def status(self, code: int) -> None:
        """The HTTP status of the answer."""
        _set(self.span, "http.response.status_code", code)


@contextmanager
def api_call(operation_name: str, method: str, url: str, partner: str) -> Iterator[_Call]:
    """The span and metrics of one call to Redtrust (all its attempts)."""
    from urllib.parse import urlsplit

    started = time.perf_counter()
    attributes: dict[str, Any] = {
        "redtrust.operation": operation_name,
        "redtrust.partner": partner,
        "http.request.method": method,
    }
    if AVAILABLE:
        parts = urlsplit(url)  # the address only: no path, no query
        if parts.hostname:
            attributes["server.address"] = parts.hostname
        attributes["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    failure: BaseException | None = None
    with operation(f"redtrust.api.{operation_name}", attributes, client=True) as span:
        try:
            yield _Call(span)
        except BaseException as error:
            failure = error
            if isinstance(error, APIError) and not isinstance(error, OutcomeUnknownError):
                _set(span, "redtrust.error.code", error.code)
                _record(
                    "redtrust.api.errors",
                    1,
                    {"redtrust.operation": operation_name, "redtrust.error.code": error.code},
                )
            raise
        finally:
            outcome = api_outcome(failure).value
            _set(span, "redtrust.outcome", outcome)
            tags = {"redtrust.operation": operation_name, "redtrust.outcome": outcome}
            _record("redtrust.api.calls", 1, tags)
            _record("redtrust.api.duration", time.perf_counter() - started, tags)
