"""The built wheel, installed from an index into fresh virtual environments, outside a checkout.

The wheel is built once from this tree; each environment gets it with one extra, as a user
would install it, and every command runs from an empty directory, so neither ``examples/`` nor
the source tree can be imported:

- ``[sandbox]`` (uvicorn, no web framework): ``redtrust demo`` signs a user in through its own
  sandbox; the integrations name the extra they need;
- ``[django]``, as the Django section of the README says: the commands that need uvicorn say
  to install the ``sandbox`` extra, in one line; ``redtrust_middleware.testing`` imports
  without pytest;
- ``[starlette]``: mypy --strict (with no ``Any`` allowed) type-checks a small app against the
  installed packages, which carry ``py.typed``.

Slow (building and installing take most of a minute on a busy machine); pip reads the index
(its cache makes it quick).
"""

from __future__ import annotations

import importlib.metadata
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import IO
from urllib.parse import urljoin

import httpx2
import pytest

from redtrust_middleware import __version__
from redtrust_middleware.testing import require_system

ROOT = Path(__file__).resolve().parents[1]
STEP_TIMEOUT = 240  # seconds for one pip step
#: The hidden fields of the sandbox's sign-in form.
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
#: What a command that needs uvicorn prints without it (docs: the README's install section).
NEEDS_SANDBOX = (
    "redtrust {command}: needs uvicorn, which is not installed; install the sandbox extra: "
    'pip install "redtrust-middleware[sandbox]"\n'
)

pytestmark = [pytest.mark.network, pytest.mark.timeout(600)]


def _run(command: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=STEP_TIMEOUT
    )
    if check:
        assert done.returncode == 0, f"{command[1:5]} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env() -> dict[str, str]:
    """This environment without what would let a child import the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONSAFEPATH"] = "1"  # the current directory is not put on sys.path either
    return env


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree, once for the session."""
    dist = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)]
    _run(build, dist)
    (built,) = dist.glob("redtrust_middleware-*.whl")
    return built


def _venv_with(wheel: Path, extra: str, base: Path) -> Path:
    """A fresh virtual environment with ``wheel[extra]`` installed; its bin/."""
    created = subprocess.run(
        [sys.executable, "-m", "venv", str(base / "venv")], capture_output=True, text=True
    )
    require_system(created.returncode == 0, f"python -m venv failed: {created.stderr.strip()}")
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[{extra}]"], base)
    return bin_dir


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with its sandbox extra (uvicorn, no web framework); the venv's bin/."""
    return _venv_with(wheel, "sandbox", tmp_path_factory.mktemp("installed"))


@pytest.fixture(scope="module")
def django_only(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as the README's Django section installs it (no uvicorn, no pytest)."""
    return _venv_with(wheel, "django", tmp_path_factory.mktemp("django-only"))


@pytest.fixture(scope="module")
def starlette_only(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with its starlette extra, for type-checking an app against it."""
    return _venv_with(wheel, "starlette", tmp_path_factory.mktemp("starlette-only"))


def test_the_wheel_carries_a_py_typed_marker_in_every_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for package in ("redtrust_middleware", "redtrust_django", "redtrust_starlette"):
        assert f"{package}/py.typed" in names, package


def test_the_wheel_carries_the_pages_templates_and_catalogues(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    pages = "redtrust_middleware/pages"
    for name in ("layout", "callback_refused", "signout_confirmation", "unavailable"):
        assert f"{pages}/templates/{name}.html" in names
        assert (
            f"redtrust_django/templates/redtrust/{name if name != 'layout' else 'base'}.html"
            in names
        )
    for catalogue in (
        f"{pages}/locale/es/LC_MESSAGES/redtrust_middleware",
        "redtrust_django/locale/es/LC_MESSAGES/django",
    ):
        assert {f"{catalogue}.po", f"{catalogue}.mo"} <= names, catalogue


def test_the_wheel_metadata_has_the_one_version_and_the_pytest_plugin(wheel: Path) -> None:
    assert wheel.name.startswith(f"redtrust_middleware-{__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = (n for n in archive.namelist() if n.endswith("/entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[pytest11]\nredtrust_middleware.pytest_plugin = redtrust_middleware.pytest_plugin" in (
        text
    )


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, redtrust_middleware as r; "
        "print(r.__file__); print(u.find_spec('examples'), u.find_spec('starlette'))"
    )
    where, missing = _run([str(installed / "python"), "-c", probe], tmp_path).stdout.splitlines()
    assert Path(where).is_relative_to(installed.parent), where
    assert missing == "None None"  # no checkout on the path, and no web framework


def test_redtrust_version_is_the_installed_distributions(installed: Path, tmp_path: Path) -> None:
    printed = _run([str(installed / "redtrust"), "--version"], tmp_path).stdout
    metadata = _run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('redtrust-middleware'))",
        ],
        tmp_path,
    ).stdout.strip()
    assert printed == f"redtrust-middleware {metadata}\n"
    assert metadata == importlib.metadata.version("redtrust-middleware")  # this checkout's


@pytest.mark.parametrize(
    ("module", "extra"),
    [("redtrust_django", "django"), ("redtrust_starlette", "starlette")],
)
def test_an_integration_without_its_framework_names_the_extra(
    installed: Path, tmp_path: Path, module: str, extra: str
) -> None:
    done = _run([str(installed / "python"), "-c", f"import {module}"], tmp_path, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: "), done.stderr
    assert f'pip install "redtrust-middleware[{extra}]"' in last


@pytest.mark.parametrize("command", ["sandbox", "demo", "walkthrough"])
def test_without_the_sandbox_extra_a_command_says_to_install_it(
    django_only: Path, tmp_path: Path, command: str
) -> None:
    done = _run([str(django_only / "redtrust"), command], tmp_path, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == NEEDS_SANDBOX.format(command=command)


def test_the_testing_helpers_import_without_pytest(django_only: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u; print(u.find_spec('pytest')); "
        "from redtrust_middleware.testing import make_config; print(make_config().partner)"
    )
    done = _run([str(django_only / "python"), "-c", probe], tmp_path)
    assert done.stdout == "None\nCA_TEST\n"


#: A small Starlette app as a user writes it, type-checked against the installed wheel.
TYPED_APP = """
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

import redtrust_starlette
from redtrust_starlette import requires_redtrust
from redtrust_middleware.testing import make_config


@requires_redtrust
def me(request: Request) -> Response:
    context = redtrust_starlette.get_redtrust(request)
    return PlainTextResponse(context.subject or "" if context else "")


reveal_type(me)
reveal_type(redtrust_starlette.get_redtrust)
reveal_type(make_config())
"""


def test_mypy_strict_sees_types_in_every_installed_package(
    starlette_only: Path, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(TYPED_APP)
    # strict: an untyped module or decorator is an error. Not disallow_any_expr: a decorator
    # typed F -> F has Any in F's bound (Callable[..., Any]) however precise it is; the
    # revealed types show that nothing the app touches is Any.
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    done = _run(
        [
            sys.executable,  # this mypy, checking against the fresh environment's packages
            "-m",
            "mypy",
            "--python-executable",
            str(starlette_only / "python"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "app.py",
        ],
        tmp_path,
        check=False,
    )
    revealed = re.findall(r'note: Revealed type is "([^"]+)"', done.stdout)
    # Starlette 1.x's Request is generic in its state; earlier versions' is not.
    revealed = [t.replace("[starlette.datastructures.State]", "") for t in revealed]
    assert revealed == [
        "def (request: starlette.requests.Request) -> starlette.responses.Response",
        "def (conn: starlette.requests.HTTPConnection) -> "
        "redtrust_middleware.web.RedtrustContext | None",
        "redtrust_middleware.config.RedtrustConfig",
    ], done.stdout
    assert "error" not in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout  # reveal_type is a note, not an error


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
