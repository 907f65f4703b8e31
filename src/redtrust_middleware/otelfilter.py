"""Keep the callback's one-time ``tkn`` (and its ``state``) out of OpenTelemetry traces.

The frameworks' own instrumentation (``opentelemetry-instrumentation-asgi``, ``-starlette``,
``-fastapi``, ``-django``, ``-flask``, ``-wsgi``) records each request's URL: ``url.query``,
``http.target``, ``http.url``, ``url.full``, and, when asked to capture headers, the
``Cookie`` that carries the session handle and the ``Location`` of the login redirect, whose
``RedirectUrl`` carries ``state`` percent-encoded. :class:`RedactCallbackSpans` wraps the
span processor that exports, and hands it every span with those values replaced by
:data:`~redtrust_middleware.logfilter.REDACTED` (the parameter names stay, so a trace still
shows which callback it was)::

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from redtrust_middleware.otelfilter import RedactCallbackSpans

    provider.add_span_processor(RedactCallbackSpans(BatchSpanProcessor(exporter)))

It needs ``opentelemetry-sdk`` (which every app that exports spans has); the rest of the
library never imports this module. The instrumentation's metrics carry the route, never the
query (``http.target`` in ``http.server.duration`` is the route template), so they need no
filter; the test suite checks that under every face.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
    from opentelemetry.sdk.util import BoundedList
    from opentelemetry.trace import Link, Status
    from opentelemetry.util.types import AttributeValue
except ImportError as error:  # pragma: no cover - exercised without the SDK installed
    raise ImportError(
        "redtrust_middleware.otelfilter filters the spans of the OpenTelemetry SDK: "
        'pip install "redtrust-middleware[otel]" opentelemetry-sdk',
        name=error.name,
    ) from error

from redtrust_middleware.logfilter import REDACTED

__all__ = ["SECRET_HEADERS", "RedactCallbackSpans", "redact_span", "redact_value"]

#: Captured headers (as OpenTelemetry names them: ``http.request.header.<name>``, lower
#: case, ``-`` as ``_``) whose whole value is a secret: the session handle, the login
#: binding, any bearer token.
SECRET_HEADERS = frozenset(
    {
        "http.request.header.cookie",
        "http.request.header.authorization",
        "http.request.header.proxy_authorization",
        "http.response.header.set_cookie",
    }
)
# A tkn= or state= parameter as a query writes it (at the start, after ?, & or ;, or after
# a space or a quote: a span name "GET /redtrust/callback?state=..."), its value running to
# the next separator; the same as the access-log filter's.
_PLAIN = re.compile(r"""(?<![^\s?&;"'])((?:tkn|state)=)[^&\s"'#;]+""", re.IGNORECASE)
# The same parameter percent-encoded inside another URL's query: the login redirect's
# Location (RedirectUrl=https%3A%2F%2Fapp%2Fredtrust%2Fcallback%3Fstate%3D...%26tkn%3D).
_ENCODED = re.compile(r"""(?<=%3F|%26)((?:tkn|state)%3D)(?:(?!%26)[^&\s"'#;])+""", re.IGNORECASE)


def redact_value(value: str) -> str:
    """``value`` with every ``tkn`` and ``state`` query value, plain or percent-encoded,
    replaced by :data:`~redtrust_middleware.logfilter.REDACTED`."""
    if "=" in value:
        value = _PLAIN.sub(lambda found: found.group(1) + REDACTED, value)
    if "%" in value:
        value = _ENCODED.sub(lambda found: found.group(1) + REDACTED, value)
    return value


def _redact_attribute(key: str, value: AttributeValue) -> AttributeValue:
    if key in SECRET_HEADERS:
        return (
            [REDACTED] if isinstance(value, Sequence) and not isinstance(value, str) else REDACTED
        )
    if isinstance(value, str):
        return redact_value(value)
    if isinstance(value, Sequence) and value and isinstance(value[0], str):
        return [redact_value(item) for item in value]  # type: ignore[arg-type]
    return value


def _redact_attributes(attributes: Mapping[str, AttributeValue] | None) -> dict[str, Any]:
    # Every string value, not only the URL keys: an exception message or stack trace, a
    # custom attribute or a captured header can quote the URL as well.
    return {key: _redact_attribute(key, value) for key, value in (attributes or {}).items()}


def _bounded(attributes: Mapping[str, AttributeValue] | None, dropped: int) -> BoundedAttributes:
    cleaned = BoundedAttributes(maxlen=None, attributes=_redact_attributes(attributes))
    cleaned.dropped = dropped  # exporters still report what the SDK dropped
    cleaned._immutable = True  # as the SDK leaves an ended span's attributes
    return cleaned


def _listed(items: Sequence[Any], dropped: int) -> BoundedList[Any]:
    listed: BoundedList[Any] = BoundedList(None)
    listed.extend(items)
    listed.dropped = dropped
    return listed


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of an ended ``span`` with ``tkn`` and ``state`` values removed from its name,
    attributes, events (an exception's message and stack trace), links and status, and the
    values of :data:`SECRET_HEADERS` replaced whole. The resource is kept as it is (it is
    set once per process, before any request)."""
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_value(status.description))
    events = [
        Event(event.name, _bounded(event.attributes, event.dropped_attributes), event.timestamp)
        for event in span.events
    ]
    links = [
        Link(link.context, _bounded(link.attributes, link.dropped_attributes))
        for link in span.links
    ]
    return ReadableSpan(
        name=redact_value(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_bounded(span.attributes, span.dropped_attributes),
        events=_listed(events, span.dropped_events),
        links=_listed(links, span.dropped_links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactCallbackSpans(SpanProcessor):
    """A span processor that hands ``processor`` (the one that exports: a
    ``BatchSpanProcessor``, a ``SimpleSpanProcessor``, a vendor's) only redacted spans.

    Redacting when a span starts is not enough: the instrumentation sets attributes later
    (Django its route, the ASGI middleware the status and the target, ``record_exception``
    its events), and an ended span is read-only. So :meth:`on_end` builds a redacted copy
    (:func:`redact_span`) and passes that on; wrapping the exporting processor, rather than
    adding a processor beside it, is what makes sure it never sees the original, whatever
    order processors were added in. :meth:`on_start` also cleans the live span's name and
    attributes, for the processors that read spans as they start.
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Redact what ``span`` already carries, then pass it on."""
        name = redact_value(span.name)
        if name != span.name:
            span.update_name(name)
        for key, value in (span.attributes or {}).items():
            cleaned = _redact_attribute(key, value)
            if cleaned != value:
                span.set_attribute(key, cleaned)
        self._processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Pass on a redacted copy of the ended ``span``."""
        self._processor.on_end(redact_span(span))

    def shutdown(self) -> None:
        """Shut the wrapped processor down."""
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped processor."""
        return self._processor.force_flush(timeout_millis)
