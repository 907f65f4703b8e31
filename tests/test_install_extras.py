"""A command or an integration whose optional package is missing says which extra to install.

One line, before anything else is printed, exit status 2, no traceback; the integrations raise
an ImportError naming the extra. Here the missing package is hidden in-process (``find_spec``
answers None and an import fails); tests/test_demo_installed.py checks the same in a virtual
environment where it really is absent.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import pytest

from redtrust_middleware.cli import main


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``names`` look uninstalled: find_spec finds nothing and importing fails."""
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name.split(".")[0] in names:
            return None
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("command", ["sandbox", "demo", "walkthrough"])
def test_a_command_without_uvicorn_names_the_sandbox_extra(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide(monkeypatch, "uvicorn")
    assert main([command, "--port", "18083"] if command == "sandbox" else [command]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"redtrust {command}: needs uvicorn, which is not installed; install the sandbox extra: "
        'pip install "redtrust-middleware[sandbox]"\n'
    )


def test_help_needs_no_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide(monkeypatch, "uvicorn")
    with pytest.raises(SystemExit) as done:
        main(["sandbox", "--help"])
    assert done.value.code == 0
    assert "--redirect-prefix" in capsys.readouterr().out


def test_commands_without_optional_packages_run_without_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide(monkeypatch, "uvicorn")
    for name in ("REDTRUST_SERVER_URL", "REDTRUST_PARTNER", "REDTRUST_SHARED_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["login-url"]) == 2  # refused for its configuration, not for uvicorn
    assert "uvicorn" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("redtrust_django", "django", "django"),
        ("redtrust_starlette", "starlette", "starlette"),
        ("redtrust_starlette.fastapi", "fastapi", "fastapi"),
        ("redtrust_flask", "flask", "flask"),
        ("redtrust_django.drf", "rest_framework", "drf"),
    ],
)
def test_an_integration_without_its_framework_names_the_extra(
    module: str, hidden: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide(monkeypatch, hidden)
    monkeypatch.delitem(sys.modules, module, raising=False)  # put back after the test
    with pytest.raises(ImportError) as refused:
        importlib.import_module(module)
    assert f'pip install "redtrust-middleware[{extra}]"' in str(refused.value)
    assert refused.value.name == hidden
