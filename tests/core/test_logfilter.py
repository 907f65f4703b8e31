"""The access-log filter, on each server's record as that server builds it."""

from __future__ import annotations

import logging

import pytest

from redtrust_middleware.logfilter import RedactCallbackQuery, redact, redact_access_logs

TKN = "eyJ0eXAi.one-time+token/x="
STATE = "BrogV-ZyT-KCk53oUglawYLHg6QlFtd6VWqHjqNOpmc"
QUERY = f"state={STATE}&tkn={TKN}"
PATH = f"/redtrust/callback?{QUERY}"


def _record(name: str, msg: str, args: object) -> logging.LogRecord:
    # LogRecord unwraps a one-mapping tuple into the mapping, as logger.info(fmt, atoms) does.
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def _filtered(record: logging.LogRecord) -> str:
    assert RedactCallbackQuery().filter(record) is True  # never dropped
    return record.getMessage()


def _clean(line: str) -> None:
    assert TKN not in line
    assert STATE not in line
    assert "tkn=[redacted]" in line
    assert "state=[redacted]" in line


def test_uvicorn_access_record() -> None:
    # uvicorn.protocols.http: access_logger.info('%s - "%s %s HTTP/%s" %d', client, method,
    # path_with_query, http_version, status)
    record = _record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:51234", "GET", PATH, "1.1", 303),
    )
    line = _filtered(record)
    _clean(line)
    assert (
        line
        == '127.0.0.1:51234 - "GET /redtrust/callback?state=[redacted]&tkn=[redacted] HTTP/1.1" 303'
    )


def test_django_runserver_record() -> None:
    # django.core.servers.basehttp.WSGIRequestHandler.log_message('"%s" %s %s', requestline,
    # status, size)
    record = _record("django.server", '"%s" %s %s', (f"GET {PATH} HTTP/1.1", "400", "512"))
    line = _filtered(record)
    _clean(line)
    assert line.endswith(' HTTP/1.1" 400 512')


class SafeAtoms(dict[str, str]):
    """gunicorn.glogging.SafeAtoms's behaviour: a missing atom reads as "-"."""

    def __getitem__(self, key: str) -> str:
        return super().get(key, "-")


def test_gunicorn_access_record_keeps_its_atoms_type() -> None:
    # gunicorn.glogging.Logger.access: self.access_log.info(access_log_format, safe_atoms)
    atoms = SafeAtoms(
        h="127.0.0.1", r=f"GET {PATH} HTTP/1.1", U="/redtrust/callback", q=QUERY, s="303"
    )
    record = _record("gunicorn.access", '%(h)s "%(r)s" %(s)s q=%(q)s %(f)s', (atoms,))
    assert record.args is atoms
    line = _filtered(record)
    _clean(line)
    assert record.args is atoms  # rewritten in place: missing atoms still read "-"
    assert line.endswith("q=state=[redacted]&tkn=[redacted] -")


def test_a_preformatted_message_is_redacted_too() -> None:
    line = _filtered(_record("any", f"GET {PATH} 303", None))
    _clean(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/x?tkn=a&other=b", "/x?tkn=[redacted]&other=b"),
        ("/x?TKN=a", "/x?TKN=[redacted]"),  # a probe's spelling too
        ("/x?tkn=", "/x?tkn="),  # nothing to hide: an empty value stays empty
        ("/x?mytkn=a&restate=b", "/x?mytkn=a&restate=b"),  # other names are left alone
        ("/x?a=1;state=s#f", "/x?a=1;state=[redacted]#f"),
        ("no query at all", "no query at all"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_install_once_per_logger() -> None:
    name = "tests.logfilter.install"
    redact_access_logs([name])
    redact_access_logs([name])
    logger = logging.getLogger(name)
    assert sum(isinstance(f, RedactCallbackQuery) for f in logger.filters) == 1
