"""The throwaway PostgreSQL that the Django storm runs on (tests/databases.py)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest
from tests import databases
from tests.databases import PostgresServer, SessionWrites, require_postgres


def test_postgres_runs_on_loopback_unprivileged_and_stops_when_the_test_fails() -> None:
    server = PostgresServer(require_postgres())

    def a_failing_test() -> None:
        with server:
            url = server.create_database("check")
            assert url == f"postgresql://postgres@127.0.0.1:{server.port}/check"
            with psycopg.connect(url) as connection:
                row = connection.execute(
                    "SELECT current_database(), host(inet_server_addr()), current_setting('fsync')"
                ).fetchone()
            assert row == ("check", "127.0.0.1", "off")
            owner = os.stat(f"/proc/{server.pid}").st_uid
            expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
            assert owner == expected  # never root: postgres refuses to run as root
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        a_failing_test()
    assert not server.running
    assert not server.folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url("check"), connect_timeout=2)


def test_session_writes_are_counted_by_the_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("writes")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE django_session (session_key text PRIMARY KEY)")
        connection.execute("INSERT INTO django_session VALUES ('a'), ('b')")
        writes = SessionWrites(url)
        connection.execute("UPDATE django_session SET session_key = session_key || 'x'")
        connection.execute("UPDATE django_session SET session_key = 'c' WHERE session_key = 'ax'")
    assert writes.count() == 3  # two rows, then one


def test_debian_binaries_are_found_off_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for version in ("9", "15", "13"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        for name in ("initdb", "postgres"):
            (bindir / name).touch()
    (tmp_path / "16" / "bin").mkdir(parents=True)  # initdb only from another package: no
    (tmp_path / "16" / "bin" / "initdb").touch()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(databases, "_DEBIAN_BINDIRS", tmp_path)
    assert databases.postgres_bindir() == tmp_path / "15" / "bin"
    monkeypatch.setattr(databases, "_DEBIAN_BINDIRS", tmp_path / "none")
    assert databases.postgres_bindir() is None


@pytest.mark.parametrize(("strict", "outcome"), [("1", "errors"), ("", "skipped")])
def test_a_missing_postgresql_fails_in_strict_mode_and_skips_otherwise(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, strict: str, outcome: str
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path / "empty"))
    monkeypatch.setattr(databases, "_DEBIAN_BINDIRS", pytester.path / "none")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("REDTRUST_STRICT_TESTS", strict)
    pytester.makeconftest("from tests.databases import postgres_server\n")
    pytester.makepyfile("def test_db(postgres_server):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:django", "-rsf")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines(["*PostgreSQL is missing (apt-get install -y postgresql)*"])
