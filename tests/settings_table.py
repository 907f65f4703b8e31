"""The settings table of docs/configuration.md, read as a test oracle.

Each row gives a field's environment variable, Django key, an example value (``e.g. `...```
in the format column) and its default. :func:`expected_value` turns an example into the value
the field must end up with, written here from the documented formats, not by the library's
reader.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redtrust_middleware import RedtrustConfig

__all__ = [
    "GUIDE",
    "ROWS",
    "Row",
    "config_field_types",
    "expected_value",
    "file_example",
    "python_value",
]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
#: The Django key of a path setting, which the adapter takes from the URLconf.
FROM_URLCONF = "from the URLconf"


@dataclass(frozen=True)
class Row:
    """One row of the table, as written."""

    setting: str
    variable: str
    key: str
    format: str
    default: str
    meaning: str

    @property
    def example(self) -> str:
        """The first ``e.g. `...``` value of the format column."""
        found = re.search(r"e\.g\. `([^`]*)`", self.format)
        assert found, f"the row of {self.setting} gives no example (e.g. `...`)"
        return found.group(1)


def _code(cell: str) -> str:
    """The text of a cell that is one code span, else the cell itself."""
    found = re.fullmatch(r"`([^`]*)`", cell.strip())
    return found.group(1) if found else cell.strip()


def _rows() -> dict[str, Row]:
    text = GUIDE.read_text("utf-8")
    section = text.split("## Every setting", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| setting |"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"a row of {GUIDE.name} has {len(cells)} cells: {line}"
        row = Row(_code(cells[0]), _code(cells[1]), _code(cells[2]), *cells[3:])
        name = row.setting if row.variable else row.key  # Django-only rows: by their key
        assert name not in rows, f"two rows for {name}"
        rows[name] = row
    return rows


ROWS = _rows()


def config_field_types() -> dict[str, Any]:
    """Each field of RedtrustConfig and its annotation, in field order."""
    hints = typing.get_type_hints(RedtrustConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(RedtrustConfig)}


def _without_none(annotation: Any) -> Any:
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    return arguments[0] if type(None) in typing.get_args(annotation) else annotation


def _scalar(annotation: Any, text: str) -> Any:
    if annotation is bool:
        return {"true": True, "false": False}[text]
    if annotation in (int, float, str):
        return annotation(text)
    if typing.get_origin(annotation) is typing.Literal:
        return text
    raise AssertionError(f"no test conversion for {annotation!r}: add one in {__name__}")


def expected_value(name: str, text: str) -> Any:
    """The value field ``name`` holds once set from the documented example ``text``."""
    annotation = _without_none(config_field_types()[name])
    origin = typing.get_origin(annotation)
    items = typing.get_args(annotation)
    if origin is tuple:
        return tuple(_scalar(items[0], part) for part in text.split(","))
    if origin is frozenset:
        return frozenset(_scalar(items[0], part) for part in text.split(","))
    if origin in (Mapping, dict):
        pairs = (part.split("=", 1) for part in text.split(","))
        return {_scalar(items[0], k): _scalar(items[1], v) for k, v in pairs}
    return _scalar(annotation, text)


def python_value(name: str, text: str) -> Any:
    """The example as a Django user writes it: lists for lists, dicts for mappings."""
    value = expected_value(name, text)
    if isinstance(value, frozenset):
        return sorted(value)
    return list(value) if isinstance(value, tuple) else value


def file_example(row: Row) -> bool:
    """The setting names a file, so a test must write one (its example path is not real)."""
    return "path of a" in row.format and "file" in row.format
