"""The events table, the fields helper and the JSON formatter; and that every log call of
the library goes through them (so no record leaves without its event)."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from pathlib import Path

import pytest

from redtrust_middleware import logevents
from redtrust_middleware.exceptions import APIError, TransportError
from redtrust_middleware.logevents import EVENTS, FIELDS, PREFIX, error_fields, log
from redtrust_middleware.logfilter import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "redtrust_middleware"
# The library and its faces; the sandbox stands in for Redtrust and logs its own lines.
SOURCES = sorted(
    p
    for p in [*PACKAGE.rglob("*.py"), *(ROOT / "integrations").rglob("*.py")]
    if "sandbox" not in p.relative_to(ROOT).parts and p.name != "logevents.py"
)
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log", "warn"}


def _direct_log_calls(path: Path) -> list[str]:
    """``logger.warning(...)``-style calls in ``path``: records that would carry no event."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEVELS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("logger", "logging", "log", "_log")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_log_call_of_the_library_names_an_event() -> None:
    assert len(SOURCES) > 50  # the walk found the package and the faces
    direct = [call for path in SOURCES for call in _direct_log_calls(path)]
    assert direct == []


def test_every_listed_event_is_logged_somewhere() -> None:
    # (an unlisted one cannot be: log() raises KeyError for it)
    text = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)
    named = set(re.findall(r'"(redtrust\.[a-z_.]+)"', text))
    assert set(EVENTS) - named == set()


def test_every_event_lists_only_known_fields() -> None:
    for name, spec in EVENTS.items():
        assert re.fullmatch(r"redtrust\.[a-z_]+(\.[a-z_]+)?", name)
        assert set(spec.fields) <= set(FIELDS) - {"event"}, name
        assert spec.level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def test_no_field_name_can_clash_with_a_log_record_attribute() -> None:
    record = vars(logging.LogRecord("x", 0, "", 0, "", (), None))
    for name in FIELDS:
        assert PREFIX + name not in record
        assert PREFIX + name not in ("message", "asctime")


def test_log_prefixes_fields_leaves_out_none_and_refuses_unlisted_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("redtrust_middleware.test")
    with caplog.at_level(logging.DEBUG, logger="redtrust_middleware"):
        log(logger, "redtrust.logout", "ended (%s)", "x", reason="signed_out", session=None)
        with pytest.raises(KeyError, match="latency_ms"):
            log(logger, "redtrust.logout", "ended", latency_ms=1.0)
    (record,) = caplog.records
    assert record.getMessage() == "ended (x)"
    assert record.levelno == logging.INFO
    assert vars(record)["redtrust_event"] == "redtrust.logout"
    assert vars(record)["redtrust_reason"] == "signed_out"
    assert not hasattr(record, "redtrust_session")
    assert record.funcName == "test_log_prefixes_fields_leaves_out_none_and_refuses_unlisted_ones"


def test_a_disabled_level_builds_nothing(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("redtrust_middleware.test")
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        log(logger, "redtrust.call", "attempt", nonsense=1)  # unlisted: not even checked
    assert caplog.records == []


def test_error_fields_name_an_error_by_its_type_code_and_status_never_its_message() -> None:
    error = APIError("INVALID_REFRESH_TOKEN", "token abc123 is unknown", status=401)
    assert error_fields(error) == {
        "error_type": "APIError",
        "code": "INVALID_REFRESH_TOKEN",
        "status": 401,
    }
    assert error_fields(TransportError("reset")) == {
        "error_type": "TransportError",
        "code": None,
        "status": None,
    }
    assert "abc123" not in repr(error_fields(error))


def test_the_json_formatter_writes_one_object_per_line_with_the_fields() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("redtrust_middleware.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.setLevel(logging.INFO)
        log(logger, "redtrust.logout", "ended (%s)", "signed_out", reason="signed_out")
        logger.info("GET /redtrust/callback?state=s3cr3t&tkn=t0k3n 303")  # an access line
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, access, failed = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "ended (signed_out)"
    assert (first["level"], first["logger"]) == ("INFO", "redtrust_middleware.test.json")
    assert first["redtrust_event"] == "redtrust.logout"
    assert first["redtrust_reason"] == "signed_out"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert "s3cr3t" not in access["message"]
    assert "t0k3n" not in access["message"]
    assert "tkn=[redacted]" in access["message"]
    assert "ValueError: boom" in failed["exception"]


def test_the_json_formatter_needs_only_the_standard_library() -> None:
    tree = ast.parse((PACKAGE / "logfilter.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "json", "logging", "re", "collections", "datetime", "typing"}


def test_the_docs_list_every_event_with_its_fields() -> None:
    text = (ROOT / "docs" / "logging.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(redtrust\.[a-z_.]+)` \| [A-Z]+ \| ([^|]*) \|", text, re.M))
    assert set(rows) == set(EVENTS)
    for name, spec in EVENTS.items():
        listed = set(re.findall(r"`([a-z_]+)`", rows[name]))
        assert listed == set(spec.fields), name
    for name in FIELDS:
        assert f"`{PREFIX}{name}`" in text
    assert logevents.__doc__
