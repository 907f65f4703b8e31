"""The example apps as a user runs them: a server in a subprocess on a free loopback port.

Shared by the socket and browser suites. The server's output goes to a log file (shown when a
test fails); start-up is awaited by polling ``GET /`` with a deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]
MANAGE = str(ROOT / "examples" / "django_site" / "manage.py")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port nothing listens on just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def uvicorn_command(target: str, port: int) -> list[str]:
    """``uvicorn target`` on 127.0.0.1:``port``, without the access log (URLs carry tkn)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


def django_command(server: str, port: int) -> list[str]:
    """The example Django site under ``runserver`` or under uvicorn (ASGI)."""
    if server == "runserver":
        return [sys.executable, MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"]
    return uvicorn_command("examples.django_site.asgi:application", port)


def example_env(sandbox_url: str, app_url: str, **extra: str) -> dict[str, str]:
    """The environment of an example app signing in against the sandbox at ``sandbox_url``
    (partner ``CA_DEMO`` with the public demo secret), none of the caller's ``REDTRUST_*``,
    ``DJANGO_*`` or ``DATABASE_URL``; ``extra`` variables on top."""
    from redtrust_middleware.sandbox.cli import DEMO_SECRET

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDTRUST_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        REDTRUST_SERVER_URL=sandbox_url,
        REDTRUST_PARTNER="CA_DEMO",
        REDTRUST_SHARED_SECRET=DEMO_SECRET,
        REDTRUST_PUBLIC_URL=app_url,
        DJANGO_SETTINGS_MODULE="examples.django_site.settings",
    )
    env.update(extra)
    return env


def migrate(env: Mapping[str, str], log: Path) -> None:
    """Create the Django site's tables (``runserver`` only warns about missing ones)."""
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, MANAGE, "migrate", "--noinput"],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=START_TIMEOUT,
        )


def wait_until_ready(process: subprocess.Popen[bytes], url: str) -> None:
    """Poll ``GET url/`` until it answers 200, within :data:`START_TIMEOUT`.

    Raises:
        RuntimeError: the server exited or did not answer in time.
    """
    deadline = time.monotonic() + START_TIMEOUT
    with httpx2.Client(timeout=2.0) as probe:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited during start-up ({process.returncode})")
            try:
                if probe.get(url + "/").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {START_TIMEOUT} s")
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the server does not stop in :data:`STOP_TIMEOUT`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def served(command: list[str], env: Mapping[str, str], log: Path, url: str) -> Iterator[str]:
    """Run ``command`` (a server that will answer at ``url``) until the block ends; yield
    ``url`` once it answers. Its output is appended to ``log``."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(process, url)
        yield url
    finally:
        stop(process)
