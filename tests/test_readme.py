"""The README's Python examples run as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), flags=re.S)


def test_the_readme_has_python_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(source, str(README), "exec")  # every example is valid Python
    if "make_sandbox" not in source:
        return  # needs a real server or app: compiled only
    exec(code, {"__name__": "readme_example"})  # noqa: S102
    assert "alice" in capsys.readouterr().out
