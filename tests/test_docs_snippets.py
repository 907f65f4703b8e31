"""Every code block of README.md and docs/*.md runs here, or is marked as a fragment.

The conventions, for whoever writes a block:

- **Fragments.** An HTML comment line ``<!-- fragment: <reason> -->`` right before the fence
  (no blank line between) says the block is not run, and why. The reason is required.
- **python.** The blocks of one page run in order in one namespace, as in a console session:
  a block may use what an earlier block of the page defined. ``REDTRUST_*`` point at a sandbox
  on a real socket (:func:`redtrust_middleware.testing.make_sandbox`: partner ``CA_TEST``,
  users ``alice`` and ``bob``, ``PUBLIC_URL`` ``https://app.test``), so
  ``RedtrustConfig.from_env()`` works; ``REDTRUST_REDIS_URL`` names a throwaway Redis when a
  page uses ``RedisStore.from_env()``. A block that binds ``app`` is served under Starlette's
  ``TestClient`` (a WSGI app, Flask's or a ``RedtrustWSGIMiddleware``: through httpx2's
  ``WSGITransport``) and ``alice`` signs in: every page of the app's own (for a bare
  ``RedtrustWSGIMiddleware``, ``/`` and its ``protect`` paths) must then answer 200, and one
  of them name her.
- **Django.** A python block whose first line is ``# settings.py`` is a Django project
  snippet, split at its ``# <path>.py`` lines and appended to those files of a new
  ``django-admin startproject`` project (``settings.py`` and ``urls.py`` of the project
  package; another path names an app, made with ``startapp``). ``manage.py check`` must pass
  (and, without a ``REDTRUST_SHARED_SECRET`` the snippet reads, fail naming the key); when the
  snippet routes a view of its own, ``alice`` signs in and the view answers 200.
- **sh, bash, console.** Each command (``\\`` continues a line, ``#`` starts a comment; in a
  ``console`` block only the lines after a ``$`` prompt are commands) must be one this module
  knows how to run safely; see :func:`runner_for`. Servers are started with their ports moved
  to free ones (gunicorn's ``--bind``), must answer, and are stopped; ``make`` targets are
  checked with ``make -n``;
  ``pip install`` specs must name extras of pyproject.toml; other ``redtrust`` commands run
  against a sandbox on a socket (``--url``, or the ``REDTRUST_*`` variables of its demo
  partner).
- **json, toml.** Parsed.
- Any other language, or none, must be a fragment.

``test_every_block_is_run_or_a_fragment`` lists every block that is neither, with its file
and line, and why it cannot be run.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from tests.servers import stop_group

from redtrust_middleware import RedtrustConfig, RedtrustWSGIMiddleware
from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_PARTNER,
    TEST_SECRET,
    TEST_USERS,
    RedisServer,
    make_sandbox,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
START_TIMEOUT = 30.0
#: What ``redtrust sandbox`` and the examples use by default: commands run against it.
DEMO_SECRET = "sandbox-demo-secret-0123456789abcdef"
SHELLS = {"sh", "bash", "console", "shell"}
DATA = {"json": json.loads, "toml": tomllib.loads}

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*fragment:(?P<reason>.*?)-->\s*$")
#: A line naming the file the following lines go to, in a Django project snippet.
FILE_LINE = re.compile(r"^# (?P<path>[\w/]+\.py)\b.*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text (dedented) and its marker."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    source: str
    fragment: str | None  # the marker's reason; "" for a marker without one

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang or 'no language'})"

    @property
    def is_django_project(self) -> bool:
        first = self.source.split("\n", 1)[0]
        match = FILE_LINE.match(first)
        return self.lang == "python" and match is not None and match["path"] == "settings.py"

    def code(self) -> Any:
        """The source compiled so that tracebacks show the page's own line numbers."""
        return compile("\n" * self.line + self.source, str(self.page), "exec")


def read_blocks(page: Path) -> tuple[list[Block], list[str]]:
    """The page's fenced blocks, and the problems of its fragment markers."""
    lines = page.read_text("utf-8").split("\n")
    blocks: list[Block] = []
    problems: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = MARKER.match(line)
        if marker and not (index + 1 < len(lines) and FENCE.match(lines[index + 1])):
            where = f"{page.relative_to(ROOT)}:{index + 1}"
            problems.append(f"{where}: a fragment marker must be the line right before a fence")
        opening = FENCE.match(line)
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        previous = MARKER.match(lines[index - 1]) if index else None
        blocks.append(
            Block(
                page=page,
                line=index + 1,
                lang=opening["lang"].lower(),
                source=textwrap.dedent("\n".join(lines[index + 1 : end])) + "\n",
                fragment=previous["reason"].strip() if previous else None,
            )
        )
        index = end + 1
    return blocks, problems


BLOCKS: list[Block] = []
MARKER_PROBLEMS: list[str] = []
for _page in PAGES:
    _blocks, _problems = read_blocks(_page)
    BLOCKS += _blocks
    MARKER_PROBLEMS += _problems
RUN = [block for block in BLOCKS if block.fragment is None]


def ids(blocks: list[Block]) -> list[str]:
    return [f"{block.page.relative_to(ROOT)}:{block.line}" for block in blocks]


# -- processes and ports -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def answers(url: str) -> bool:
    try:
        httpx2.get(url, timeout=2)
    except httpx2.HTTPError:
        return False
    return True


@contextmanager
def serving(argv: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    """``argv`` started in its own process group; yields once ``url`` answers; stopped after."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"`{shlex.join(argv)}` did not answer on {url} "
                    f"(exit status {process.poll()}):\n{log.read_text(errors='replace')}"
                )
            time.sleep(0.1)  # polling a starting server, not waiting for time to pass
        yield
    finally:
        stop_group(process)


def tool(name: str) -> str:
    """A command of the test's own environment (its venv): ``.venv/bin/redtrust`` and
    ``redtrust`` both mean the redtrust of the interpreter running the tests."""
    base = name.rsplit("/", 1)[-1]
    if base in {"python", "python3"}:
        return sys.executable
    found = BIN / base
    return str(found) if found.exists() else (shutil.which(base) or base)


def with_options(argv: list[str], options: Mapping[str, str]) -> list[str]:
    """``argv`` with each option's value replaced, or the option added."""
    kept: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name in options:
            skip = "=" not in token
            continue
        kept.append(token)
    for name, value in options.items():
        kept += [name, value]
    return kept


# -- shell commands ----------------------------------------------------------------------------


@dataclass
class Command:
    """One command of a shell block: its variables and its words."""

    block: Block
    text: str
    env: dict[str, str]
    argv: list[str]

    @property
    def where(self) -> str:
        return f"{self.block.where}: `{self.text}`"


def commands_of(block: Block) -> list[Command]:
    """The block's commands; in a ``console`` block only the lines after a ``$`` prompt (the
    others are their output)."""
    joined = block.source.replace("\\\n", " ")
    lines = joined.split("\n")
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    found: list[Command] = []
    for text in lines:
        words = shlex.split(text, comments=True)
        if not words:
            continue
        env: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0], flags=re.S):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        found.append(Command(block, text.split(" #", 1)[0].strip(), env, words))
    return found


@dataclass
class Shell:
    """What the commands of one block share: a sandbox on a socket, started on first use."""

    tmp_path: Path
    stack: ExitStack
    _sandbox_url: str | None = field(default=None)

    def sandbox_url(self) -> str:
        if self._sandbox_url is None:
            sandbox = Sandbox(
                SandboxConfig(
                    partners={"CA_DEMO": DEMO_SECRET},
                    users={"demo": "demo"},
                    redirect_prefixes=("http://127.0.0.1:8000/",),
                )
            )
            self._sandbox_url = self.stack.enter_context(running(sandbox))
        return self._sandbox_url

    def env(self, command: Command, **extra: str) -> dict[str, str]:
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, **extra, **command.env}

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}-{time.monotonic_ns()}.log"


Runner = Callable[[Command, Shell], None]


def run_make(command: Command, shell: Shell) -> None:
    """``make TARGET [VAR=value]``: the target exists and its recipe expands (``make -n``)."""
    result = subprocess.run(
        ["make", "-n", *command.argv[1:]],
        cwd=ROOT,
        env=shell.env(command),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{command.where}: make -n failed:\n{result.stderr}"


def run_pip_install(command: Command, shell: Shell) -> None:
    """``pip install "redtrust-middleware[extra]"``: the project and each extra exist."""
    specs = [word for word in command.argv[2:] if not word.startswith("-")]
    assert specs, f"{command.where}: nothing to install"
    extras = PYPROJECT["project"]["optional-dependencies"]
    for spec in specs:
        match = re.fullmatch(r"(?P<name>[\w.-]+)(?:\[(?P<extras>[\w,\s-]+)\])?", spec)
        assert match, f"{command.where}: {spec!r} is not a requirement this test knows"
        name = match["name"]
        assert name in {PYPROJECT["project"]["name"], "."}, f"{command.where}: not this project"
        for extra in filter(None, (e.strip() for e in (match["extras"] or "").split(","))):
            assert extra in extras, f"{command.where}: pyproject.toml has no extra {extra!r}"


def serve_sandbox(command: Command, shell: Shell) -> None:
    """``redtrust sandbox ...``: started on a free port instead of its own, it answers."""
    port = free_port()
    argv = with_options([tool(command.argv[0]), *command.argv[1:]], {"--port": str(port)})
    url = f"http://127.0.0.1:{port}/"
    with serving(argv, shell.env(command), url, shell.log("sandbox")):
        pass


def serve_demo(command: Command, shell: Shell) -> None:
    """``redtrust demo ...``: on free ports, its app's page answers."""
    app, sandbox = free_port(), free_port()
    options = {"--app-port": str(app), "--sandbox-port": str(sandbox)}
    argv = with_options([tool(command.argv[0]), *command.argv[1:]], options)
    with serving(argv, shell.env(command), f"http://127.0.0.1:{app}/", shell.log("demo")):
        assert httpx2.get(f"http://127.0.0.1:{app}/").status_code == 200


def serve_uvicorn(command: Command, shell: Shell) -> None:
    """``uvicorn module:app ...``: on a free port, the app's ``/`` answers without an error."""
    port = free_port()
    options = {"--host": "127.0.0.1", "--port": str(port)}
    argv = with_options([tool(command.argv[0]), *command.argv[1:]], options)
    url = f"http://127.0.0.1:{port}/"
    with serving(argv, shell.env(command), url, shell.log("uvicorn")):
        status = httpx2.get(url).status_code
        assert status < 500, f"{command.where}: / answered {status}"


def serve_gunicorn(command: Command, shell: Shell) -> None:
    """``gunicorn module:app ...``: bound to a free port instead (no control socket, whose
    path is one per user), the app's ``/`` answers without an error."""
    port = free_port()
    argv, skip = [sys.executable, "-m", "gunicorn"], False
    for token in command.argv[1:]:
        if skip:
            skip = False
        elif token in {"-b", "--bind"}:
            skip = True
        elif not token.startswith("--bind="):
            argv.append(token)
    argv += ["--bind", f"127.0.0.1:{port}", "--no-control-socket"]
    url = f"http://127.0.0.1:{port}/"
    with serving(argv, shell.env(command), url, shell.log("gunicorn")):
        status = httpx2.get(url).status_code
        assert status < 500, f"{command.where}: / answered {status}"


def run_redtrust(command: Command, shell: Shell) -> None:
    """A ``redtrust`` command that ends by itself: run against a sandbox on a socket
    (``--url`` for ``sandbox-fault``; the ``REDTRUST_*`` variables for the others)."""
    argv = [tool(command.argv[0]), *command.argv[1:]]
    url = shell.sandbox_url()
    if command.argv[1:2] == ["sandbox-fault"] and "--url" not in argv:
        argv += ["--url", url]
    demo = {
        "REDTRUST_SERVER_URL": url,
        "REDTRUST_PARTNER": "CA_DEMO",
        "REDTRUST_SHARED_SECRET": DEMO_SECRET,
        "REDTRUST_PUBLIC_URL": "http://127.0.0.1:8000",
    }
    result = subprocess.run(
        argv,
        cwd=ROOT,
        env=shell.env(command, **demo),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command.where}: exit status {result.returncode}\n{result.stdout}{result.stderr}"
    )


def run_assignment(command: Command, shell: Shell) -> None:
    """``NAME="$(...)"``: bash gives the variable a value, one the setting accepts."""
    (name,) = command.env
    script = f'{command.text}\nprintf "%s" "${name}"'
    result = subprocess.run(
        ["bash", "-c", script], env=shell.env(command), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command.where}: {result.stderr}"
    assert result.stdout, f"{command.where}: {name} is empty"
    if name.startswith("REDTRUST_") and name != "REDTRUST_REDIS_URL":
        base = {
            "REDTRUST_SERVER_URL": "https://redtrust.test",
            "REDTRUST_PARTNER": TEST_PARTNER,
            "REDTRUST_SHARED_SECRET": TEST_SECRET,
        }
        RedtrustConfig.from_env({**base, name: result.stdout})


#: The ``redtrust`` subcommands that serve until stopped, and those that end by themselves.
REDTRUST_SERVERS: dict[str, Runner] = {"sandbox": serve_sandbox, "demo": serve_demo}
REDTRUST_COMMANDS = {"sandbox-fault", "walkthrough", "login-url", "doctor", "--help", "--version"}


def runner_for(command: Command) -> Runner | str:
    """The function that runs ``command``, or why none can."""
    argv = command.argv
    if not argv:
        if len(command.env) == 1:
            return run_assignment
        return "only variable assignments: give one variable per line"
    program = argv[0].rsplit("/", 1)[-1]
    if program in {"python", "python3"} and argv[1:2] == ["-m"] and len(argv) > 2:
        module, rest = argv[2], argv[3:]
        if module == "redtrust_middleware.sandbox":
            return serve_sandbox
        if module == "pip":
            argv, program = ["pip", *rest], "pip"
        else:
            return f"`python -m {module}` is not a module this test runs"
    if program == "make":
        return run_make
    if program == "pip":
        return run_pip_install if argv[1:2] == ["install"] else "only `pip install` is checked"
    if program == "uvicorn":
        return serve_uvicorn
    if program == "gunicorn":
        return serve_gunicorn
    if program == "redtrust":
        sub = argv[1] if len(argv) > 1 else "--help"
        if sub in REDTRUST_SERVERS:
            return REDTRUST_SERVERS[sub]
        if sub in REDTRUST_COMMANDS:
            return run_redtrust
        return f"`redtrust {sub}` is not a subcommand this test runs"
    return f"`{program}` is not a command this test runs"


# -- the inventory -----------------------------------------------------------------------------


def why_not_run(block: Block) -> str | None:
    """Why the suite cannot run ``block`` as it is; None when it runs it."""
    if block.fragment is not None:
        return None if block.fragment else "its fragment marker gives no reason"
    if block.lang == "python" or block.lang in DATA:
        return None
    if block.lang in SHELLS:
        reasons = [
            f"{command.text!r}: {reason}"
            for command in commands_of(block)
            if isinstance(reason := runner_for(command), str)
        ]
        return "; ".join(reasons) or None
    return f"no runner for {block.lang or 'a block without a language'}"


def test_the_pages_have_blocks() -> None:
    assert {block.page.name for block in BLOCKS} >= {"README.md", "starlette.md", "django.md"}


def test_every_block_is_run_or_a_fragment() -> None:
    problems = list(MARKER_PROBLEMS)
    for block in BLOCKS:
        reason = why_not_run(block)
        if reason is not None:
            problems.append(f"{block.where}: not run: {reason}")
    assert not problems, (
        "Code blocks the suite does not run (run them in tests/test_docs_snippets.py, or put "
        "`<!-- fragment: <reason> -->` on the line right before the fence):\n" + "\n".join(problems)
    )


# -- python ------------------------------------------------------------------------------------

PYTHON_PAGES = sorted(
    {block.page for block in RUN if block.lang == "python" and not block.is_django_project}
)


@pytest.fixture
def redtrust_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """``REDTRUST_*`` for a sandbox on a real socket; the sandbox."""
    for name in list(os.environ):
        if name.startswith("REDTRUST_"):
            monkeypatch.delenv(name)
    sandbox = make_sandbox()
    with running(sandbox) as url:
        monkeypatch.setenv("REDTRUST_SERVER_URL", url)
        monkeypatch.setenv("REDTRUST_PARTNER", TEST_PARTNER)
        monkeypatch.setenv("REDTRUST_SHARED_SECRET", TEST_SECRET)
        monkeypatch.setenv("REDTRUST_PUBLIC_URL", TEST_APP_URL)
        yield sandbox


def own_pages(app: Any) -> list[str]:
    """The paths of the app's own GET routes (not the library's, not FastAPI's docs, not
    Flask's static files)."""
    url_map = getattr(app, "url_map", None)
    if url_map is not None:  # Flask
        return [
            rule.rule
            for rule in url_map.iter_rules()
            if "GET" in (rule.methods or ())
            and "<" not in rule.rule
            and not rule.rule.startswith("/redtrust/")
            and rule.endpoint != "static"
        ]
    tooling = {getattr(app, name, None) for name in ("openapi_url", "docs_url", "redoc_url")}
    tooling.add(getattr(app, "swagger_ui_oauth2_redirect_url", None))
    return [
        route.path
        for route in app.routes
        if isinstance(route, Route)
        and "GET" in (route.methods or ())
        and "{" not in route.path
        and not route.path.startswith("/redtrust/")
        and route.path not in tooling
    ]


def protected_answer(response: Any) -> int:
    """The status of a page before sign-in; Starlette's ``requires(redirect=...)`` redirect
    to the login route (303) counts as the library's own 302."""
    location = urlsplit(response.headers.get("location", "")).path
    redirected = response.status_code == 303 and location == "/redtrust/login"
    return 302 if redirected else int(response.status_code)


def prove_app(app: Any, sandbox: Sandbox, where: str) -> None:
    """``alice`` signs in to ``app``; its own pages are protected, then answer 200."""
    # A bare RedtrustWSGIMiddleware has no route table: its pages are the ones it guards.
    bare = isinstance(app, RedtrustWSGIMiddleware)
    pages = ["/", *app.protect] if bare else own_pages(app)
    asgi = inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__)
    browser: Any = (
        TestClient(app, base_url=TEST_APP_URL, follow_redirects=False)
        if asgi  # else a WSGI app: called in this thread, as a sync server would
        else httpx2.Client(transport=httpx2.WSGITransport(app=app), base_url=TEST_APP_URL)
    )
    with browser:
        before = {path: protected_answer(browser.get(path)) for path in pages}
        start = browser.get("/redtrust/login", params={"next": "/"})
        assert start.status_code == 302, f"{where}: /redtrust/login answered {start.status_code}"
        callback = sandbox.sign_in(start.headers["location"], "alice", TEST_USERS["alice"])
        parts = urlsplit(callback)
        done = browser.get(f"{parts.path}?{parts.query}")
        assert done.status_code == 303, f"{where}: the callback answered {done.status_code}"
        after = {path: browser.get(path) for path in pages}
    failed = {path: r.status_code for path, r in after.items() if r.status_code != 200}
    assert not failed, f"{where}: signed in, these pages did not answer 200: {failed}"
    if pages:
        assert any(code in (302, 401) for code in before.values()), f"{where}: none protected"
        assert any("alice" in r.text for r in after.values()), f"{where}: no page names alice"


def keep_process_globals() -> Callable[[], None]:
    """What undoes a page's blocks' changes to the process: the library's loggers (a block
    sets their level, as an app would) and OpenTelemetry's global providers (settable once
    per process), so the tests after a page see the process as it was."""
    loggers = [logging.getLogger(name) for name in ("redtrust_middleware", "redtrust_django")]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]

    def restore() -> None:
        for logger, level, handlers, propagate, disabled in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled
        try:
            from opentelemetry import trace
            from opentelemetry.metrics import _internal as metrics
            from opentelemetry.util._once import Once
        except ImportError:  # pragma: no cover - the test extra installs them
            return
        # What opentelemetry-test-utils' reset_trace_globals/reset_metrics_globals do.
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        trace._TRACER_PROVIDER = None
        metrics._METER_PROVIDER_SET_ONCE = Once()
        metrics._METER_PROVIDER = None

    return restore


def close_everything(namespace: dict[str, Any]) -> None:
    """Close what the blocks opened and left open (stores, clients, Flask apps' managers,
    OpenTelemetry SDK providers)."""
    for value in namespace.values():
        kind = type(value).__module__  # not getattr: Flask's proxies raise outside a request
        if kind == "flask.app" and "redtrust" in value.extensions:
            value.extensions["redtrust"].manager.close()
        if type(value).__name__ in {"TracerProvider", "MeterProvider"}:
            value.shutdown()  # an SDK provider: its last export now, not at exit, to a
            # stdout that pytest has closed by then
            continue
        if not kind.startswith("redtrust_middleware"):
            continue
        close = getattr(value, "close", None)
        if callable(close):
            close()


@pytest.mark.network
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[p.name for p in PYTHON_PAGES])
def test_python_blocks_run(
    page: Path, redtrust_env: Sandbox, request: pytest.FixtureRequest
) -> None:
    blocks = [b for b in RUN if b.page == page and b.lang == "python" and not b.is_django_project]
    if any("RedisStore.from_env" in block.source for block in blocks):
        redis: RedisServer = request.getfixturevalue("redis_server")
        request.getfixturevalue("monkeypatch").setenv("REDTRUST_REDIS_URL", redis.url)
    namespace: dict[str, Any] = {"__name__": "docs_snippet"}
    wsgi_apps: list[RedtrustWSGIMiddleware] = []  # no lifespan closes their pools: we do
    request.addfinalizer(keep_process_globals())
    try:
        for block in blocks:
            app = namespace.get("app")
            try:
                exec(block.code(), namespace)  # noqa: S102 - our own documentation
            except Exception:
                pytest.fail(f"{block.where} raised:\n{traceback.format_exc()}")
            if namespace.get("app") is not app:
                if isinstance(namespace["app"], RedtrustWSGIMiddleware):
                    wsgi_apps.append(namespace["app"])
                prove_app(namespace["app"], redtrust_env, block.where)
    finally:
        for wsgi_app in wsgi_apps:
            wsgi_app.close()
        close_everything(namespace)


# -- Django ------------------------------------------------------------------------------------

DJANGO_BLOCKS = [block for block in RUN if block.is_django_project]
#: Run inside the snippet's project: alice signs in to the view it routes, against an
#: in-process sandbox that knows the snippet's partner, secret and PUBLIC_URL.
SIGN_IN = """
import sys
from urllib.parse import urlsplit

import django
from django.conf import settings

django.setup()

from django.test import Client, override_settings
from django.test.utils import setup_test_environment

from redtrust_django.testing import sign_in, use_sandbox
from redtrust_middleware.sandbox import Sandbox, SandboxConfig

setup_test_environment()
path = sys.argv[1]
conf = settings.REDTRUST
public = urlsplit(conf["PUBLIC_URL"])
sandbox = Sandbox(
    SandboxConfig(
        partners={conf["PARTNER"]: conf["SHARED_SECRET"]},
        users={"alice": "alice-password"},
        redirect_prefixes=(conf["PUBLIC_URL"] + "/",),
    )
)
secure = public.scheme == "https"
browser = Client(HTTP_HOST=public.netloc)
with use_sandbox(sandbox), override_settings(ALLOWED_HOSTS=[public.hostname]):
    first = browser.get(path, secure=secure)
    assert first.status_code == 302, first.status_code
    sign_in(browser, sandbox, "alice", next_url=path)
    page = browser.get(path, secure=secure)
    assert page.status_code == 200, page.status_code
    print("signed in:", page.content.decode())
"""


def django_parts(source: str) -> list[tuple[str, str]]:
    """The snippet's ``(path, code)`` parts, split at its ``# <path>.py`` lines."""
    parts: list[tuple[str, list[str]]] = []
    for line in source.split("\n"):
        match = FILE_LINE.match(line)
        if match:
            parts.append((match["path"], []))
        else:
            parts[-1][1].append(line)
    return [(path, "\n".join(lines)) for path, lines in parts]


def in_project(argv: list[str], project: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"`{shlex.join(argv[1:])}`:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


@pytest.mark.parametrize("block", DJANGO_BLOCKS, ids=ids(DJANGO_BLOCKS))
def test_django_snippet_passes_check_and_signs_in(block: Block, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDTRUST_", "DJANGO_"))}
    python_path = os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")]))
    env |= {"PYTHONPATH": python_path, "REDTRUST_SHARED_SECRET": "a-django-docs-secret-0123"}
    django = [sys.executable, "-m", "django"]
    in_project([*django, "startproject", "mysite", "."], project, env)
    for path, code in django_parts(block.source):
        if path in {"settings.py", "urls.py"}:
            target = project / "mysite" / path
        else:
            target = project / path
            if not target.parent.exists():
                in_project([*django, "startapp", target.parent.name], project, env)
        with target.open("a", encoding="utf-8") as file:
            file.write(f"\n# {block.where}\n{code}\n")
    manage = [sys.executable, "manage.py"]
    checked = in_project([*manage, "check"], project, env)
    assert "ERROR" not in checked, f"{block.where}: manage.py check:\n{checked}"
    if "REDTRUST_SHARED_SECRET" in block.source:  # without it: a check error naming the key
        unset = {k: v for k, v in env.items() if k != "REDTRUST_SHARED_SECRET"}
        result = subprocess.run(
            [*manage, "check"], cwd=project, env=unset, capture_output=True, text=True, check=False
        )
        assert result.returncode != 0, f"{block.where}: check passed without the secret"
        assert "redtrust.E002" in result.stderr, result.stderr
        assert "SHARED_SECRET" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    routed = re.findall(r'path\("([^"]*)", (?!include)\w+', block.source)
    if routed:
        in_project([*manage, "migrate", "--verbosity", "0"], project, env)
        (project / "sign_in.py").write_text(SIGN_IN, "utf-8")
        env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
        for path in routed:
            out = in_project([sys.executable, "sign_in.py", "/" + path.lstrip("/")], project, env)
            assert "signed in:" in out, f"{block.where}: {out}"
            assert "alice" in out.split("signed in:", 1)[1], f"{block.where}: {out}"


# -- shell -------------------------------------------------------------------------------------

SHELL_BLOCKS = [block for block in RUN if block.lang in SHELLS]


@pytest.mark.network
@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=ids(SHELL_BLOCKS))
def test_shell_block_runs(block: Block, tmp_path: Path) -> None:
    with ExitStack() as stack:
        shell = Shell(tmp_path, stack)
        for command in commands_of(block):
            runner = runner_for(command)
            if isinstance(runner, str):
                pytest.fail(f"{command.where}: {runner}")
            runner(command, shell)


# -- data --------------------------------------------------------------------------------------

DATA_BLOCKS = [block for block in RUN if block.lang in DATA]


@pytest.mark.parametrize("block", DATA_BLOCKS, ids=ids(DATA_BLOCKS))
def test_data_block_parses(block: Block) -> None:
    try:
        DATA[block.lang](block.source)
    except ValueError as error:
        pytest.fail(f"{block.where}: {error}")
