"""``pip install "redtrust-middleware[sandbox]"``, then ``redtrust demo``, outside a checkout.

The wheel is built from this tree and installed with its ``sandbox`` extra (uvicorn, nothing
else) into a fresh virtual environment; the installed ``redtrust demo`` runs from an empty
directory, so neither ``examples/`` nor the source tree can be imported. A user signs in
through the demo's own sandbox and sees the protected page. Slow (building and installing
take most of a minute on a busy machine); pip reads the index (its cache makes it quick).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO
from urllib.parse import urljoin

import httpx2
import pytest

from redtrust_middleware.testing import require_system

ROOT = Path(__file__).resolve().parents[1]
STEP_TIMEOUT = 240  # seconds for one pip step
#: The hidden fields of the sandbox's sign-in form.
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')

pytestmark = [pytest.mark.network, pytest.mark.timeout(600)]


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=STEP_TIMEOUT
    )
    assert done.returncode == 0, f"{command[2:5]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """This environment without what would let a child import the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONSAFEPATH"] = "1"  # the current directory is not put on sys.path either
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the built wheel and its sandbox extra; its bin/."""
    base = tmp_path_factory.mktemp("installed")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", str(ROOT)], base)
    (wheel,) = (base / "dist").glob("redtrust_middleware-*.whl")
    created = subprocess.run(
        [sys.executable, "-m", "venv", str(base / "venv")], capture_output=True, text=True
    )
    require_system(created.returncode == 0, f"python -m venv failed: {created.stderr.strip()}")
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[sandbox]"], base)
    return bin_dir


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, redtrust_middleware as r; "
        "print(r.__file__); print(u.find_spec('examples'), u.find_spec('starlette'))"
    )
    where, missing = _run([str(installed / "python"), "-c", probe], tmp_path).splitlines()
    assert Path(where).is_relative_to(installed.parent), where
    assert missing == "None None"  # no checkout on the path, and no web framework


class _Lines:
    """A process's output lines, read in a thread, so waiting for one has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, text: str, timeout: float) -> str:
        """The lines read until one contains ``text``; fails at EOF or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {text!r} within {timeout} s:\n{''.join(self.seen)}")
            assert line is not None, f"the output ended before {text!r}:\n{''.join(self.seen)}"
            self.seen.append(line)
        return "".join(self.seen)

    def join(self, timeout: float) -> None:
        """Wait for the end of the output (the process has exited)."""
        self._thread.join(timeout)


def test_redtrust_demo_signs_a_user_in_outside_a_checkout(installed: Path, tmp_path: Path) -> None:
    command = [str(installed / "redtrust"), "demo", "--app-port", "0", "--sandbox-port", "0"]
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        out = _Lines(process.stdout)
        try:
            printed = _sign_in_and_stop(process, out)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            out.join(timeout=10)
            errors = process.stderr.read()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert "signed in as demo; access token valid until" in printed
    assert "sandbox  POST /authclient/auth/login 302" in printed
    assert "tkn=" not in printed


def _sign_in_and_stop(process: subprocess.Popen[str], out: _Lines) -> str:
    """Sign in as demo/demo through the running demo, then stop it; what it printed."""
    banner = out.until("Ctrl-C", timeout=30)
    me = re.search(r"open +(http://127\.0\.0\.1:\d+/me)", banner)
    assert me, banner
    app = me[1].removesuffix("/me")
    with httpx2.Client(timeout=10) as browser:
        home = browser.get(app + "/")
        assert home.status_code == 200
        assert "Sign in with Redtrust" in home.text

        # /me -> the app's login route -> the sandbox's sign-in page.
        to_login = browser.get(me[1])
        assert to_login.status_code == 302
        to_sandbox = browser.get(urljoin(app, to_login.headers["location"]))
        assert to_sandbox.status_code == 302
        login_page = to_sandbox.headers["location"]
        assert "/authclient/auth/loginrequest?" in login_page
        form = browser.get(login_page)
        assert form.status_code == 200
        assert 'name="username"' in form.text

        # Sign in as demo/demo; the callback lands on /me, signed in.
        fields = {**dict(HIDDEN.findall(form.text)), "username": "demo", "password": "demo"}
        signed = browser.post(urljoin(login_page, "/authclient/auth/login"), data=fields)
        assert signed.status_code == 302
        assert signed.headers["location"].startswith(app + "/redtrust/callback?")
        landed = browser.get(signed.headers["location"])
        assert landed.status_code == 303
        assert landed.headers["location"] == "/me"
        page = browser.get(app + "/me")
        assert page.status_code == 200
        assert "Signed in as <strong>demo</strong>" in page.text
    out.until("app      GET /me 200", timeout=10)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    return out.until("stopped", timeout=10)
