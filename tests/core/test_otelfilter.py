"""RedactCallbackSpans on spans made with the real SDK: what is set after a span starts,
its events, links and status, and the values it must leave alone."""

from __future__ import annotations

import importlib
import sys

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from redtrust_middleware.otelfilter import RedactCallbackSpans, redact_value

R = "[redacted]"
CALLBACK = "https://app.test/redtrust/callback?state=St4te-_x&tkn=Tk3n_-y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CALLBACK, f"https://app.test/redtrust/callback?state={R}&tkn={R}"),
        ("state=St4te&tkn=Tk3n", f"state={R}&tkn={R}"),
        ("GET /redtrust/callback?TKN=a;state=b", f"GET /redtrust/callback?TKN={R};state={R}"),
        # The login redirect's Location: the callback URL percent-encoded in RedirectUrl.
        (
            "https://rt.test/login?RedirectUrl=https%3A%2F%2Fapp.test%2Fcb%3Fstate%3DSt4te%26tkn%3D&x=1",
            f"https://rt.test/login?RedirectUrl=https%3A%2F%2Fapp.test%2Fcb%3Fstate%3D{R}%26tkn%3D&x=1",
        ),
        ("a%3Fstate%3Dabc%26tkn%3Ddef", f"a%3Fstate%3D{R}%26tkn%3D{R}"),
        # Other parameters, and names that only end in tkn or state, stay.
        ("next=%2Fme&mystate=1&xtkn=2", "next=%2Fme&mystate=1&xtkn=2"),
        ("/redtrust/callback", "/redtrust/callback"),
    ],
)
def test_redact_value(text: str, expected: str) -> None:
    assert redact_value(text) == expected


def _provider(exported: InMemorySpanExporter, limit: int = 128) -> TracerProvider:
    provider = TracerProvider(span_limits=SpanLimits(max_attributes=limit))
    provider.add_span_processor(RedactCallbackSpans(SimpleSpanProcessor(exported)))
    return provider


def test_what_is_set_after_the_span_starts_is_redacted_too() -> None:
    exported = InMemorySpanExporter()
    tracer = _provider(exported).get_tracer("test")
    other = tracer.start_span("other", attributes={"url.full": CALLBACK})
    other.end()
    with tracer.start_as_current_span(
        f"GET {CALLBACK}",
        attributes={"url.query": "state=a&tkn=b"},
        links=[Link(other.get_span_context(), {"url.full": CALLBACK})],
    ) as span:
        span.set_attribute("http.target", "/redtrust/callback?state=a&tkn=b")
        span.set_attribute("http.request.header.cookie", ("__Host-redtrust_session=h4ndle",))
        span.set_attribute("url.path", "/redtrust/callback")
        span.set_attribute("http.response.status_code", 400)
        span.add_event("retry", {"url.full": CALLBACK, "tries": ("state=a", "tkn=b")})
        span.record_exception(ValueError(f"bad callback {CALLBACK}"))
        span.set_status(Status(StatusCode.ERROR, f"ValueError: bad callback {CALLBACK}"))
    _, finished = exported.get_finished_spans()
    text = finished.to_json()
    for secret in ("St4te-_x", "Tk3n_-y", "state=a", "tkn=b", "h4ndle"):
        assert secret not in text
    assert finished.name == f"GET https://app.test/redtrust/callback?state={R}&tkn={R}"
    assert finished.attributes is not None
    assert finished.attributes["url.path"] == "/redtrust/callback"
    assert finished.attributes["http.response.status_code"] == 400
    assert finished.attributes["http.request.header.cookie"] == (R,)
    (retry, exception) = finished.events
    assert retry.attributes == {
        "url.full": CALLBACK.replace("St4te-_x", R).replace("Tk3n_-y", R),
        "tries": (f"state={R}", f"tkn={R}"),
    }
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == (
        f"bad callback https://app.test/redtrust/callback?state={R}&tkn={R}"
    )
    assert finished.status.description == (
        f"ValueError: bad callback https://app.test/redtrust/callback?state={R}&tkn={R}"
    )
    assert finished.links[0].attributes == {
        "url.full": f"https://app.test/redtrust/callback?state={R}&tkn={R}"
    }


def test_a_processor_reading_spans_as_they_start_sees_them_redacted() -> None:
    started: list[str] = []

    class Reads(SimpleSpanProcessor):
        def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
            started.append(span.name + " " + str(span.attributes["url.query"]))

    provider = TracerProvider()
    provider.add_span_processor(RedactCallbackSpans(Reads(InMemorySpanExporter())))
    provider.get_tracer("test").start_span("GET /cb?tkn=x", attributes={"url.query": "tkn=x"}).end()
    assert started == [f"GET /cb?tkn={R} tkn={R}"]


def test_the_counts_the_sdk_dropped_are_still_reported() -> None:
    exported = InMemorySpanExporter()
    span = _provider(exported, limit=2).get_tracer("test").start_span("span")
    for n in range(5):
        span.set_attribute(f"extra.{n}", f"tkn={n}")
    span.end()
    (finished,) = exported.get_finished_spans()
    assert finished.attributes == {"extra.3": f"tkn={R}", "extra.4": f"tkn={R}"}
    assert finished.dropped_attributes == 3


def test_without_the_sdk_the_import_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed; put back after
    monkeypatch.delitem(sys.modules, "redtrust_middleware.otelfilter")
    with pytest.raises(ImportError) as refused:
        importlib.import_module("redtrust_middleware.otelfilter")
    assert 'pip install "redtrust-middleware[otel]" opentelemetry-sdk' in str(refused.value)
    assert str(refused.value.name).startswith("opentelemetry")


def test_the_library_never_imports_the_sdk() -> None:
    # Only an app that wires the filter (and so has the SDK) pays for it.
    import subprocess

    code = "import sys, redtrust_middleware, redtrust_middleware.asgi, redtrust_middleware.wsgi; "
    code += "print(sorted(n for n in sys.modules if n.startswith('opentelemetry.sdk')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
