"""Spans and metrics of the RA API calls (create, finalize, renew), both clients; the secret
scan itself; and the library without OpenTelemetry installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests.certificates.conftest import DN, World, make_world

from redtrust_middleware import InvalidInputError, OutcomeUnknownError, telemetry
from redtrust_middleware.testing import TEST_SECRET

from .conftest import Telemetry, is_child

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest) -> World:
    return make_world(str(request.param))


def ra_calls(otel: Telemetry) -> dict[tuple[str, str], float]:
    return {
        (p.attributes["redtrust.operation"], p.attributes["redtrust.outcome"]): p.value
        for p in otel.points("redtrust.api.calls")
        if str(p.attributes["redtrust.operation"]).startswith("csr_")
    }


async def test_enrol_and_renew_are_traced_with_each_ra_call(otel: Telemetry, world: World) -> None:
    tokens = await world.sign_in()
    otel.secrets.update({tokens.access_token, tokens.refresh_token or "", TEST_SECRET})
    first = await world.call("enroll", tokens, DN, issue=world.ca.issue)
    await world.call("renew", tokens, first.issued.thumbprint, DN, issue=world.ca.issue)

    enroll = otel.span("redtrust.certificate.enroll")
    renew = otel.span("redtrust.certificate.renew")
    creates = otel.spans("redtrust.api.csr_create")
    finalizes = otel.spans("redtrust.api.csr_finalize")
    assert len(creates) == len(finalizes) == 2
    methods = ["POST"] * 2 + ["PUT"] * 2  # csr/create and csr/finalize (the API's docs)
    pairs = zip(creates + finalizes, [enroll, renew] * 2, methods, strict=True)
    for span, parent, method in pairs:
        assert span.kind is SpanKind.CLIENT
        assert is_child(span, parent.context.span_id)
        assert (span.attributes or {})["redtrust.outcome"] == "ok"
        assert (span.attributes or {})["http.request.method"] == method
    assert ra_calls(otel) == {("csr_create", "ok"): 2, ("csr_finalize", "ok"): 2}


async def test_a_lost_finalize_is_an_unknown_outcome(otel: Telemetry, world: World) -> None:
    tokens = await world.sign_in()
    otel.secrets.update({tokens.access_token, tokens.refresh_token or "", TEST_SECRET})
    world.sandbox.drop_next(1, endpoint="csr_finalize")
    with pytest.raises(OutcomeUnknownError):
        await world.call("enroll", tokens, DN, issue=world.ca.issue)
    enroll = otel.span("redtrust.certificate.enroll")
    assert enroll.status.status_code is StatusCode.ERROR
    assert (enroll.attributes or {})["error.type"] == "OutcomeUnknownError"
    assert ra_calls(otel) == {("csr_create", "ok"): 1, ("csr_finalize", "unknown"): 1}
    assert otel.points("redtrust.api.errors") == []  # no envelope came back: no error code


async def test_a_refused_create_is_counted_by_its_error_code(otel: Telemetry, world: World) -> None:
    tokens = await world.sign_in()
    otel.secrets.update({tokens.access_token, tokens.refresh_token or "", TEST_SECRET})
    world.sandbox.fail_next(1, 403, endpoint="csr_create")
    with pytest.raises(Exception, match="SANDBOX_FAULT"):
        await world.call("enroll", tokens, DN, issue=world.ca.issue)
    assert ra_calls(otel) == {("csr_create", "rejected"): 1}
    errors = {"redtrust.operation": "csr_create", "redtrust.error.code": "SANDBOX_FAULT"}
    assert otel.value("redtrust.api.errors", errors) == 1


async def test_invalid_input_sends_nothing_and_starts_no_call_span(
    otel: Telemetry, world: World
) -> None:
    tokens = await world.sign_in()
    otel.secrets.update({tokens.access_token, tokens.refresh_token or ""})
    with pytest.raises(InvalidInputError):
        await world.call("renew", tokens, "not a thumbprint", DN, issue=world.ca.issue)
    assert otel.spans("redtrust.api.csr_create") == []


def test_the_scan_finds_a_secret_and_a_long_value(otel: Telemetry) -> None:
    """The scan run after every test here does find what it looks for."""
    otel.secrets.add("the-refresh-token")
    with otel.tracer.start_as_current_span("x") as span:
        span.set_attribute("leak", "Bearer the-refresh-token")
    with pytest.raises(AssertionError, match="a secret in x leak"):
        otel.assert_no_secret()
    otel.exporter.clear()
    with otel.tracer.start_as_current_span("y") as span:
        span.set_attribute("hmac", "c360b2d221a55da777a5ba75264d8800ce6ebe89f41aa8b6")
    with pytest.raises(AssertionError, match="long value in y hmac"):
        otel.assert_no_secret()
    otel.exporter.clear()


#: Runs a sign-in, a refresh and a sign-out with opentelemetry unimportable.
WITHOUT_OTEL = textwrap.dedent(
    """
    import sys

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    from urllib.parse import urlsplit

    from redtrust_middleware import SessionManager, telemetry
    from redtrust_middleware.testing import FakeClock, make_config, make_sandbox, TEST_USERS

    assert not telemetry.AVAILABLE
    assert not telemetry.recording()
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    config = make_config()
    from redtrust_middleware import Client
    manager = SessionManager(
        config, client=Client(config, transport=sandbox.transport(), clock=clock), clock=clock
    )
    start = manager.begin_login(next_url="/")
    location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
    done = manager.complete_login(
        query=urlsplit(location).query, browser_nonces=start.browser_nonces
    )
    clock.advance(290)
    assert manager.get(done.handle).refreshed
    assert manager.logout(done.handle)
    loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
    assert not loaded, loaded
    print("ok")
    """
)


def test_the_library_runs_without_opentelemetry() -> None:
    """No ``opentelemetry`` importable: everything works and nothing tries to load it."""
    answer = subprocess.run(
        [sys.executable, "-c", WITHOUT_OTEL],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "ok"


def test_every_metric_and_span_is_listed_once() -> None:
    names = [spec.name for spec in telemetry.METRICS]
    assert len(names) == len(set(names))
    assert all(name.startswith("redtrust.") for name in names)
    for spec in telemetry.METRICS:
        assert spec.instrument in {"counter", "histogram"}
        assert (spec.buckets is not None) == (spec.instrument == "histogram")
        assert spec.unit == "s" or spec.unit.startswith("{"), spec  # UCUM or an annotation
    spans = [spec.name for spec in telemetry.SPANS]
    assert len(spans) == len(set(spans))
