"""The example apps as a user runs them: servers in subprocesses on free loopback ports.

Shared by the socket, browser and storm suites. A server's output goes to a log file (shown
when a test fails); start-up is awaited by polling ``GET /`` with a deadline; a server is
stopped with its process group, workers included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx2
from tests.databases import SessionWrites

ROOT = Path(__file__).resolve().parents[1]
MANAGE = str(ROOT / "examples" / "django_site" / "manage.py")
START_TIMEOUT = 30.0
#: How long the storm and fault suites' apps may take to answer: several uvicorn workers.
WORKERS_START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
#: The key the storm and fault suites' apps seal their session records with.
ENCRYPTION_KEY = "storm-test-encryption-key-0123456789abcdef"


def free_port() -> int:
    """A loopback port nothing listens on just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def uvicorn_command(
    target: str, port: int, *, workers: int | None = None, log_level: str | None = None
) -> list[str]:
    """``uvicorn target`` on 127.0.0.1:``port``, without the access log (URLs carry tkn);
    ``workers`` processes and ``log_level`` when given."""
    command = [sys.executable, "-m", "uvicorn", target, "--no-access-log"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    if log_level is not None:
        command += ["--log-level", log_level]
    return command


def gunicorn_command(
    target: str,
    port: int,
    *,
    workers: int = 2,
    threads: int = 4,
    log_level: str | None = None,
    access_log: bool = False,
) -> list[str]:
    """``gunicorn target`` on 127.0.0.1:``port`` as a threaded server (``gthread``: ``workers``
    processes of ``threads`` threads each); the access log on stdout only when asked (URLs
    carry tkn: the app must redact it)."""
    command = [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--threads", str(threads), "--workers", str(workers)]
    # No control socket: its default path is one per user, shared by parallel tests.
    command += ["--graceful-timeout", "5", "--no-control-socket"]
    if access_log:
        command += ["--access-logfile", "-"]
    if log_level is not None:
        command += ["--log-level", log_level]
    return command


def manage_command(*args: str) -> list[str]:
    """``manage.py args`` of the example Django site."""
    return [sys.executable, MANAGE, *args]


def django_command(
    server: str, port: int, *, workers: int | None = None, log_level: str | None = None
) -> list[str]:
    """The example Django site under ``runserver`` or under uvicorn (ASGI; ``workers`` and
    ``log_level`` as in :func:`uvicorn_command`)."""
    if server == "runserver":
        return manage_command("runserver", f"127.0.0.1:{port}", "--noreload")
    target = "examples.django_site.asgi:application"
    return uvicorn_command(target, port, workers=workers, log_level=log_level)


def example_env(
    sandbox_url: str,
    app_url: str,
    *,
    partner: str = "CA_DEMO",
    secret: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of an example app signing in against the sandbox at ``sandbox_url``
    as ``partner`` with ``secret`` (by default ``CA_DEMO`` with the public demo secret), none
    of the caller's ``REDTRUST_*``, ``DJANGO_*`` or ``DATABASE_URL``; ``extra`` variables on
    top."""
    from redtrust_middleware.sandbox.cli import DEMO_SECRET

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDTRUST_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        REDTRUST_SERVER_URL=sandbox_url,
        REDTRUST_PARTNER=partner,
        REDTRUST_SHARED_SECRET=DEMO_SECRET if secret is None else secret,
        REDTRUST_PUBLIC_URL=app_url,
        DJANGO_SETTINGS_MODULE="examples.django_site.settings",
    )
    env.update(extra)
    return env


def session_app_env(sandbox_url: str, app_url: str, redis_url: str | None) -> dict[str, str]:
    """The environment of ``tests.storm_app`` or the example Django site signing in as the
    test partner of :mod:`redtrust_middleware.testing`, sessions sealed with
    :data:`ENCRYPTION_KEY` and kept in Redis at ``redis_url`` (None: in each worker's memory)."""
    from redtrust_middleware.testing import TEST_PARTNER, TEST_SECRET

    extra = {"REDTRUST_ENCRYPTION_KEYS": ENCRYPTION_KEY}
    if redis_url is not None:
        extra["REDTRUST_REDIS_URL"] = redis_url
    return example_env(sandbox_url, app_url, partner=TEST_PARTNER, secret=TEST_SECRET, **extra)


def run_to_end(
    argv: list[str], env: Mapping[str, str], log: Path, *, timeout: float = START_TIMEOUT
) -> None:
    """Run a command to its end, its output appended to ``log``.

    Raises:
        RuntimeError: it exited with a non-zero status.
        subprocess.TimeoutExpired: it did not end within ``timeout`` seconds.
    """
    with log.open("ab") as out:
        done = subprocess.run(
            argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:3]!r} exited with {done.returncode} (see {log.name})")


def migrate(env: Mapping[str, str], log: Path) -> None:
    """Create the Django site's tables (``runserver`` only warns about missing ones)."""
    run_to_end(manage_command("migrate", "--noinput"), env, log)


class Processes:
    """The servers of one test, each a subprocess in its own process group (so workers it
    forks are stopped with it), the output of each appended to its log file."""

    def __init__(self) -> None:
        self.logs: list[Path] = []
        self._running: list[subprocess.Popen[bytes]] = []

    def _log(self, log: Path) -> Path:
        if log not in self.logs:
            self.logs.append(log)
        return log

    def run(
        self, argv: list[str], env: Mapping[str, str], log: Path, *, timeout: float = START_TIMEOUT
    ) -> None:
        """:func:`run_to_end`, its log shown by :meth:`dump`."""
        run_to_end(argv, env, self._log(log), timeout=timeout)

    def start(self, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        """Start a server; it runs until :meth:`stop`."""
        with self._log(log).open("ab") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(process)

    def check_alive(self) -> None:
        """Raises RuntimeError when a server has exited."""
        for process in self._running:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}")

    def wait_until_ready(self, url: str, *, timeout: float = START_TIMEOUT) -> None:
        """Poll ``GET url/`` until it answers 200, within ``timeout`` seconds.

        Raises:
            RuntimeError: a server exited, or ``url`` did not answer in time.
        """
        deadline = time.monotonic() + timeout
        with httpx2.Client(timeout=2.0) as probe:
            while True:
                self.check_alive()
                try:
                    if probe.get(url + "/").status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {timeout} s")
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM every server (uvicorn stops its workers), then SIGKILL each one's group
        (what a stuck server left behind) after :data:`STOP_TIMEOUT`."""
        for process in self._running:
            if process.poll() is None:
                process.terminate()
        for process in self._running:
            with suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        self._running.clear()

    def dump(self) -> None:
        """Write the end of every log to stderr (for a failed test)."""
        for log in self.logs:
            text = log.read_text("utf-8", errors="replace") if log.exists() else "(no file)"
            sys.stderr.write(f"\n===== {log.name} =====\n{text[-20_000:]}\n")


@contextmanager
def served(command: list[str], env: Mapping[str, str], log: Path, url: str) -> Iterator[str]:
    """Run ``command`` (a server that will answer at ``url``) until the block ends; yield
    ``url`` once it answers. Its output is appended to ``log``."""
    processes = Processes()
    try:
        processes.start(command, env, log)
        processes.wait_until_ready(url)
        yield url
    finally:
        processes.stop()


def start_starlette(
    processes: Processes, env: Mapping[str, str], port: int, workers: int, folder: Path
) -> None:
    """Start ``tests.storm_app`` under uvicorn with ``workers`` (its log in ``folder``)."""
    command = uvicorn_command("tests.storm_app:app", port, workers=workers, log_level="warning")
    processes.start(command, env, folder / "starlette.log")


#: The WSGI examples on a shared store, as gunicorn targets: the bare WSGI app and Flask's.
WSGI_TARGETS = {"wsgi": "tests.storm_app:wsgi_app", "flask": "tests.storm_app:flask_app"}


def start_wsgi(
    processes: Processes,
    env: Mapping[str, str],
    port: int,
    workers: int,
    folder: Path,
    site: str = "wsgi",
) -> None:
    """Start ``site``'s app (a key of :data:`WSGI_TARGETS`: the bare WSGI example or the
    Flask one) under gunicorn with ``workers`` processes of 4 threads (its log in ``folder``)."""
    command = gunicorn_command(WSGI_TARGETS[site], port, workers=workers, log_level="warning")
    processes.start(command, env, folder / "gunicorn.log")


def start_django(
    processes: Processes,
    env: dict[str, str],
    port: int,
    workers: int,
    folder: Path,
    database: str,
) -> SessionWrites:
    """Migrate and start the example Django site under uvicorn on ``database`` (a sqlite
    file or a PostgreSQL URL; logs in ``folder``); a count of its session writes from now
    on. ``env`` gains the site's database and secret settings."""
    env.update(
        {"DATABASE_URL" if database.startswith("postgresql://") else "DJANGO_DB": database},
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="storm-test-django-secret-key-0123456789abcdef",
    )
    migrate = manage_command("migrate", "--noinput")
    processes.run(migrate, env, folder / "migrate.log", timeout=120)
    writes = SessionWrites(database)
    command = django_command("uvicorn", port, workers=workers, log_level="warning")
    processes.start(command, env, folder / "django.log")
    return writes


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a command started with ``start_new_session=True`` and everything it started
    (``make`` and its children): SIGTERM to its group, SIGKILL if it outlives 15 s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
