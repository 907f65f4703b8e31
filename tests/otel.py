"""The OpenTelemetry SDK as an app sets it up, exporting to memory, and a scan of what it
exported for the secrets of a sign-in.

Shared by the faces' suites (tests/web, tests/djangosite): each instruments its example the
way its framework's instrumentation documents it, signs in, and calls :func:`leaks`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from redtrust_middleware.otelfilter import RedactCallbackSpans

#: What an operator who wants everything sets: both generations of the HTTP semantic
#: conventions (``http.target``/``http.url`` and ``url.query``/``url.full``), every request
#: and response header captured (``Cookie``, ``Set-Cookie``, ``Location``).
EVERYTHING = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": ".*",
}


@dataclass
class Telemetry:
    """A tracer and a meter provider exporting to memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished_spans(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def exported(self) -> dict[str, str]:
        """Every exported span (name, attributes, events, links, status, resource) and
        every metric data point (its attributes), as JSON, by where it came from."""
        found = {
            f"span {span.name!r} #{n}": span.to_json()
            for n, span in enumerate(self.finished_spans())
        }
        data = self.metrics.get_metrics_data()
        found["metrics"] = data.to_json() if data is not None else ""
        return found


@contextmanager
def telemetry(*, redacted: bool) -> Iterator[Telemetry]:
    """Providers as an app sets them up, with the exporting processor wrapped in
    :class:`RedactCallbackSpans` when ``redacted``, and :data:`EVERYTHING` switched on
    (the environment is read when an app is instrumented: instrument inside the block)."""
    spans = InMemorySpanExporter()
    exporting = SimpleSpanProcessor(spans)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(RedactCallbackSpans(exporting) if redacted else exporting)
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    saved = {name: os.environ.get(name) for name in EVERYTHING}
    os.environ.update(EVERYTHING)
    # The instrumentation reads the conventions' opt-in once per process: read it again.
    _OpenTelemetrySemanticConventionStability._initialized = False
    try:
        yield Telemetry(tracer_provider, meter_provider, spans, metrics)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _OpenTelemetrySemanticConventionStability._initialized = False
        tracer_provider.shutdown()
        meter_provider.shutdown()


def leaks(exported: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """Each ``secret`` (by name) found in ``exported``, and where."""
    return [
        f"{name} in {where}"
        for name, secret in secrets.items()
        for where, text in exported.items()
        if secret and secret in text
    ]


def attribute_values(spans: tuple[ReadableSpan, ...], key: str) -> set[str]:
    """The values of the attribute ``key`` over ``spans``."""
    return {
        str(span.attributes[key]) for span in spans if span.attributes and key in span.attributes
    }
