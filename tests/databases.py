"""Real databases for the Django tests: a throwaway PostgreSQL server, and a count of the
writes to Django's session table taken by the database itself (a trigger).

``PostgresServer`` runs Debian's ``postgresql`` binaries (``initdb`` and ``postgres`` from
``/usr/lib/postgresql/<version>/bin``, or from ``PATH``) on a free loopback port, with its
data and its socket in a temporary directory and no durability (``fsync=off``). PostgreSQL
refuses to run as root, so under root it runs as the ``postgres`` system user that the
package creates. It stops when its ``with`` block ends, however the test ended.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from redtrust_middleware.testing import require_system

__all__ = [
    "PostgresServer",
    "SessionWrites",
    "postgres_bindir",
    "postgres_server",
    "require_postgres",
]

_DEBIAN_BINDIRS = Path("/usr/lib/postgresql")
_SYSTEM_USER = "postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: on ``PATH``, else Debian's newest version."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("postgres") is not None:
        return Path(found).parent
    versions = [
        path.parent
        for path in _DEBIAN_BINDIRS.glob("*/bin/initdb")
        if path.parent.parent.name.isdigit() and (path.parent / "postgres").exists()
    ]
    return max(versions, key=lambda bindir: int(bindir.parent.name), default=None)


class PostgresServer:
    """A throwaway PostgreSQL on ``127.0.0.1``: trust authentication, superuser
    ``postgres``, nothing kept. Use it as a context manager."""

    def __init__(self, bindir: Path, *, startup_timeout: float = 60.0) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # postgres will not run as root: run it as its system user
            try:
                user = pwd.getpwnam(_SYSTEM_USER)
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user to run "
                    "it as (apt-get install -y postgresql creates it)"
                ) from None
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.folder = Path(tempfile.mkdtemp(prefix="redtrust-pg-"))
        if self._as:
            os.chown(self.folder, self._as["user"], self._as["group"])
        self.log = self.folder / "postgres.log"

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, running={self.running})"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id (its ``postgres`` main process), while it runs."""
        return self._process.pid if self._process is not None else None

    def url(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>``."""
        return f"postgresql://{_SYSTEM_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            cwd=self.folder,
            capture_output=True,
            timeout=self.startup_timeout,
            check=False,
            **self._as,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{argv[0]} exited with {done.returncode}: {output}")

    def start(self) -> None:
        """Create the cluster, start the server and wait until it accepts connections."""
        data = self.folder / "data"
        self._run(
            "initdb", "-D", str(data), "--username", _SYSTEM_USER, "--auth", "trust",
            "--encoding", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": "200",
            "fsync": "off",  # a throwaway database: no durability, less disk traffic
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                argv, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, **self._as
            )
        deadline = time.monotonic() + self.startup_timeout
        while not self._accepts():
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres not ready within {self.startup_timeout} s")
            time.sleep(0.05)  # polling with a deadline, not waiting a fixed time

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        """Create database ``name``; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), SIGKILL after ``timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def close(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def require_postgres() -> Path:
    """The PostgreSQL binaries; skips the test without them (fails it in strict mode)."""
    bindir = postgres_bindir()
    require_system(bindir is not None, "PostgreSQL is missing (apt-get install -y postgresql)")
    assert bindir is not None
    return bindir


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server for one test (skips without the binaries, unless strict)."""
    with PostgresServer(require_postgres()) as server:
        yield server


class SessionWrites:
    """Counts updates of rows of ``django_session`` (a trigger into a side table), in a
    database that Django has migrated: a sqlite file, or a ``postgresql://`` URL."""

    _INSTALL: ClassVar[dict[str, list[str]]] = {
        "sqlite": [
            "CREATE TABLE redtrust_session_writes (id INTEGER PRIMARY KEY)",
            "CREATE TRIGGER redtrust_count_session_writes AFTER UPDATE ON django_session"
            " BEGIN INSERT INTO redtrust_session_writes (id) VALUES (NULL); END",
        ],
        "postgresql": [
            "CREATE TABLE redtrust_session_writes (id SERIAL PRIMARY KEY)",
            "CREATE FUNCTION redtrust_count_session_write() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN INSERT INTO redtrust_session_writes DEFAULT VALUES; RETURN NULL;"
            " END $$",
            "CREATE TRIGGER redtrust_count_session_writes AFTER UPDATE ON django_session"
            " FOR EACH ROW EXECUTE FUNCTION redtrust_count_session_write()",
        ],
    }

    def __init__(self, database: str) -> None:
        self.database = database
        self.vendor = "postgresql" if database.startswith("postgresql://") else "sqlite"
        for statement in self._INSTALL[self.vendor]:
            self._execute(statement)

    def _execute(self, statement: str) -> list[Any]:
        if self.vendor == "sqlite":
            with closing(sqlite3.connect(self.database, timeout=30)) as connection, connection:
                return connection.execute(statement).fetchall()
        with psycopg.connect(self.database, autocommit=True) as server:
            cursor = server.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def count(self) -> int:
        """Session rows updated since the trigger was installed."""
        return int(self._execute("SELECT count(*) FROM redtrust_session_writes")[0][0])
