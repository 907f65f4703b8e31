"""docs/observability.md lists exactly what the library emits, under the names the
Prometheus exporter really gives them."""

from __future__ import annotations

import re
from pathlib import Path

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, generate_latest

from redtrust_middleware import telemetry

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def table_rows(heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading``, each cell without its backticks."""
    text = PAGE.read_text("utf-8").split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if set("".join(cells)) <= {"-"} or cells[0] in {"metric", "span"}:
            continue
        rows.append(cells)
    return rows


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_metrics_table_is_the_list_in_code() -> None:
    rows = {names(row[0])[0]: row for row in table_rows("## Metrics")}
    assert list(rows) == [spec.name for spec in telemetry.METRICS]
    for spec in telemetry.METRICS:
        _, instrument, unit, attributes, _ = rows[spec.name]
        assert instrument == spec.instrument
        assert names(unit) == [spec.unit]
        assert tuple(names(attributes)) == spec.attributes
    text = PAGE.read_text("utf-8")
    for spec in telemetry.METRICS:
        assert f"- `{spec.name}`:" in text, f"{spec.name} has no PromQL example"


def test_the_prometheus_names_are_the_exporters() -> None:
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry.use(meter_provider=provider)
    try:
        for spec in telemetry.METRICS:
            telemetry._record(spec.name, 1, dict.fromkeys(spec.attributes, "x"))
        exported = generate_latest(REGISTRY).decode()
    finally:
        telemetry.use()
        provider.shutdown()
    for row in table_rows("## Metrics"):
        (prometheus,) = names(row[4])
        assert re.search(rf"^{prometheus}(_bucket|_count|_sum)?\{{", exported, re.M), prometheus
    for spec in telemetry.METRICS:
        for attribute in spec.attributes:
            assert attribute.replace(".", "_") + '="x"' in exported


def documented_name(name: str) -> str:
    """The row a span is documented in: the API calls share one."""
    return "redtrust.api.<operation>" if name.startswith("redtrust.api.") else name


def test_the_spans_table_is_the_list_in_code() -> None:
    rows = {names(row[0])[0]: row for row in table_rows("## Spans")}
    listed = [spec.name for spec in telemetry.SPANS]
    assert list(rows) == list(dict.fromkeys(documented_name(name) for name in listed))
    calls = {name.removeprefix("redtrust.api.") for name in listed if name != documented_name(name)}
    assert set(names(rows["redtrust.api.<operation>"][2])) >= calls
    for spec in telemetry.SPANS:
        row = rows[documented_name(spec.name)]
        assert set(names(row[3])) == set(spec.attributes), spec.name
