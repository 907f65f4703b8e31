"""The OpenTelemetry SDK's in-memory exporter and reader around the library, for one test.

Each test gets its own providers (``telemetry.use``), so nothing global is set and tests do
not see each other's spans or counts. At the end of every test, every exported span and
metric is scanned for the secrets the test registered (tokens the sandbox issued, ``tkn``,
``state``, the session handle, the shared secret) and for any long string value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from redtrust_middleware import telemetry

#: The longest string value an attribute may have: every one the library sets is a short
#: word, code, host name or a 16-digit session tag; tokens, nonces, handles and HMACs are
#: all longer than this.
LONGEST_VALUE = 40


def tag_of(handle: str) -> str:
    """The session tag, computed as documented (not with the library's function)."""
    return hashlib.sha256(b"redtrust-session-tag\0" + handle.encode()).hexdigest()[:16]


def is_child(span: ReadableSpan, parent_span_id: int) -> bool:
    """Whether ``span``'s parent is the span ``parent_span_id``."""
    return span.parent is not None and span.parent.span_id == parent_span_id


@dataclass
class Point:
    """One metric data point: its attributes and its value (a counter's sum, or a
    histogram's count, sum and bucket counts)."""

    attributes: dict[str, Any]
    value: float = 0.0
    count: int = 0
    total: float = 0.0
    boundaries: tuple[float, ...] = ()


@dataclass
class Telemetry:
    """What the library exported during one test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    secrets: set[str] = field(default_factory=set)
    _metrics: Any = None

    @property
    def tracer(self) -> Tracer:
        """A tracer of the same provider: a test's "request" span is the library's parent."""
        return self.tracer_provider.get_tracer("tests")

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named ``name``), in the order they ended."""
        finished = list(self.exporter.get_finished_spans())
        return [s for s in finished if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span named ``name``."""
        (found,) = self.spans(name)
        return found

    def collect(self) -> None:
        self._metrics = self.reader.get_metrics_data()

    def points(self, name: str) -> list[Point]:
        """The data points of metric ``name`` (collected now)."""
        self.collect()
        found: list[Point] = []
        for metric in self._all_metrics():
            if metric.name != name:
                continue
            for point in metric.data.data_points:
                attributes = dict(point.attributes or {})
                if isinstance(point, HistogramDataPoint):
                    found.append(
                        Point(
                            attributes,
                            count=point.count,
                            total=point.sum,
                            boundaries=tuple(point.explicit_bounds),
                        )
                    )
                else:
                    found.append(Point(attributes, value=point.value))
        return found

    def value(self, name: str, attributes: dict[str, str] | None = None) -> float:
        """A counter's value for exactly these attributes (0 when never counted)."""
        wanted = attributes or {}
        return sum(p.value for p in self.points(name) if p.attributes == wanted)

    def by(self, name: str, attribute: str) -> dict[Any, float]:
        """A counter's values keyed by one attribute."""
        return {p.attributes.get(attribute): p.value for p in self.points(name)}

    def _all_metrics(self) -> Iterator[Any]:
        data = self._metrics
        if data is None:
            return
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                yield from scope.metrics

    def exported_strings(self) -> Iterator[tuple[str, str]]:
        """Every string in the exported data that the library chose: span names, status
        descriptions, event names, attribute keys and values; metric names and attributes."""
        for span in self.spans():
            yield "span name", span.name
            if span.status.description:
                yield f"{span.name} status", span.status.description
            for key, value in (span.attributes or {}).items():
                yield f"{span.name} {key}", str(value)
            for event in span.events:
                yield f"{span.name} event", event.name
                for key, value in (event.attributes or {}).items():
                    yield f"{span.name} event {key}", str(value)
        self.collect()
        for metric in self._all_metrics():
            yield "metric name", metric.name
            for point in metric.data.data_points:
                for key, value in (point.attributes or {}).items():
                    yield f"{metric.name} {key}", str(value)

    def assert_no_secret(self) -> None:
        """No registered secret in any exported string, and no long value at all."""
        secrets = {s for s in self.secrets if s}
        for where, text in self.exported_strings():
            for secret in secrets:
                assert secret not in text, f"a secret in {where}: {text[:80]!r}"
            if not where.startswith("span name") and where != "metric name":
                assert len(text) <= LONGEST_VALUE, f"an unexpectedly long value in {where}"


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.use(tracer_provider=tracer_provider, meter_provider=meter_provider)
    seen = Telemetry(exporter, reader, tracer_provider)
    try:
        yield seen
        seen.assert_no_secret()
    finally:
        telemetry.use()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
