"""The conformance section of docs/sandbox.md stays true: every test it names exists, every
documented fact names its source and a test, every undocumented choice a real knob."""

from __future__ import annotations

import ast
import dataclasses
import re
from functools import cache
from pathlib import Path

import pytest

from redtrust_middleware.sandbox import SandboxConfig
from redtrust_middleware.sandbox.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sandbox.md"
SECTION = "## Conformance to Redtrust's documentation"
FACTS_HEADER = "| fact | source | pinned by |"
CHOICES_HEADER = "| choice | the sandbox's value | knob |"
#: The documents redtrust-api.md attributes its facts to.
SOURCES = ("tutorial 4.33", "RA API reference 4.42", "RA API guide", "Camerfirma tutorial")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
CODE = re.compile(r"`([^`]+)`")


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text
    return text.split(SECTION, 1)[1].split("\n## ", 1)[0]


def rows(header: str) -> list[list[str]]:
    """The cells of each row of the table under ``header`` (a cell's ``|`` inside backticks
    does not occur in these tables)."""
    lines = section().splitlines()
    start = lines.index(header) + 2  # the header and the |---| line
    found = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        found.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert found, header
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


FACTS = rows(FACTS_HEADER)
CHOICES = rows(CHOICES_HEADER)


def fact_problems(row: list[str]) -> list[str]:
    """What is wrong with one row of the facts table (nothing, for a good row)."""
    fact, source, pinned = row
    problems = [] if any(name in source for name in SOURCES) else [f"unknown source {source!r}"]
    refs = TEST_REF.findall(pinned)
    if not refs:
        problems.append("no test pins it")
    if len(refs) != len(CODE.findall(pinned)):
        problems.append("a reference is not `tests/....py::test_name`")
    for path, name in refs:
        if not (ROOT / path).is_file():
            problems.append(f"{path} does not exist")
        elif name not in defined_tests(path):
            problems.append(f"{path} has no test {name}")
    return [f"{fact}: {problem}" for problem in problems]


@pytest.mark.parametrize("row", FACTS, ids=lambda row: row[0][:50])
def test_every_documented_fact_names_its_source_and_existing_tests(row: list[str]) -> None:
    assert fact_problems(row) == []


def test_a_row_naming_a_missing_test_is_caught() -> None:
    here = "tests/sandbox/test_sandbox_conformance_table.py"
    row = ["x", "tutorial 4.33", f"`{here}::test_that_was_renamed`, `{here}`"]
    assert fact_problems(row) == [
        "x: a reference is not `tests/....py::test_name`",
        f"x: {here} has no test test_that_was_renamed",
    ]
    assert fact_problems(["y", "a blog", "none"]) == [
        "y: unknown source 'a blog'",
        "y: no test pins it",
    ]


@pytest.mark.parametrize("row", CHOICES, ids=lambda row: row[0][:50])
def test_every_undocumented_choice_has_a_real_knob_or_is_fixed(row: list[str]) -> None:
    choice, _value, knob = row
    options = {opt for action in build_parser()._actions for opt in action.option_strings}
    fields = {field.name for field in dataclasses.fields(SandboxConfig)}
    names = [name for name in CODE.findall(knob) if name not in ("max_*",)]
    if knob.startswith("fixed"):
        names = [name for name in names if name in fields]  # "fixed (`iss`: `issuer`)"
    assert names or knob == "fixed", f"{choice}: no knob named"
    for name in names:
        known = options if name.startswith("--") else fields
        assert name in known, f"{choice}: {name} is neither an option nor a SandboxConfig field"


def test_the_tables_are_read_whole() -> None:
    # Guards the reader itself: a table cut short would let rows escape the checks.
    assert len(FACTS) >= 15
    assert len(CHOICES) >= 20
    assert any("tests/sandbox/test_sandbox_protocol.py" in row[2] for row in FACTS)
