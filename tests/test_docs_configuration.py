"""docs/configuration.md has a row for every field of RedtrustConfig, and each row is true:
its environment variable is read, its Django key accepted, its default the field's default.

Example values come from the table itself; the values they must give are worked out in
``tests/settings_table.py`` from the documented formats.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.settings_table import (
    FROM_URLCONF,
    GUIDE,
    ROWS,
    Row,
    expected_value,
    file_example,
)

from redtrust_middleware import RedtrustConfig

FIELDS = {f.name: f for f in dataclasses.fields(RedtrustConfig)}
#: Settings the adapters take from elsewhere, so Django has no key for them.
URLCONF_PATHS = {"login_path", "callback_path", "logout_path"}
#: Variables that differ from ``REDTRUST_<NAME>``.
OTHER_VARIABLES = {"jwks": "REDTRUST_JWKS_FILE"}
JWK_SET = {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}
BASE = {
    "REDTRUST_SERVER_URL": "https://redtrust.test",
    "REDTRUST_PARTNER": "CA_TEST",
    "REDTRUST_SHARED_SECRET": "redtrust-testing-secret-0123456789",
}


def row_of(name: str) -> Row:
    row = ROWS.get(name)
    if row is None:
        pytest.fail(f"{GUIDE.name} has no row for the setting {name!r}")
    return row


def example_of(name: str, tmp_path: Path) -> tuple[str, Any]:
    """The row's example as text, and the value the field must hold when set from it."""
    row = row_of(name)
    if file_example(row):
        path = tmp_path / f"{name}.file"
        content = json.dumps(JWK_SET) if name == "jwks" else "-----BEGIN CERTIFICATE-----\n"
        path.write_text(content, "utf-8")
        return str(path), JWK_SET if name == "jwks" else str(path)
    if name == "profile":
        return row.example, row.example  # compared by the profile's name
    return row.example, expected_value(name, row.example)


def held(config: RedtrustConfig, name: str) -> Any:
    value = getattr(config, name)
    return value.name if name == "profile" else value


def test_every_field_has_a_row() -> None:
    missing = [name for name in FIELDS if name not in ROWS]
    template = (
        "| `{0}` | `REDTRUST_{1}` | `{1}` | <type>, e.g. `<example>` | <default> | <meaning> |"
    )
    rows = "\n".join(template.format(name, name.upper()) for name in missing)
    assert not missing, (
        f"{GUIDE.name} ('Every setting') has no row for: {', '.join(missing)}. Add:\n{rows}"
    )


def test_every_row_is_a_setting() -> None:
    extra = {"profile.<endpoint>", "CACHE", "API_PREFIXES"}
    assert set(ROWS) - set(FIELDS) == extra


@pytest.mark.parametrize("name", list(FIELDS))
def test_the_row_names_the_variable_and_the_django_key(name: str) -> None:
    row = row_of(name)
    assert row.variable == OTHER_VARIABLES.get(name, f"REDTRUST_{name.upper()}")
    assert row.key == (FROM_URLCONF if name in URLCONF_PATHS else name.upper())


@pytest.mark.parametrize("name", list(FIELDS))
def test_the_row_gives_the_default(name: str) -> None:
    row, field = row_of(name), FIELDS[name]
    default: Any = field.default
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    required = default is dataclasses.MISSING
    assert row.default.startswith("required") == required, row.default
    if required:
        return
    if name == "profile":
        default = default.name
    if row.default.startswith("none"):
        assert default in (None, (), frozenset(), {}), f"{name}: the default is {default!r}"
        return
    literal = re.match(r"`([^`]*)`", row.default)
    assert literal, f"{name}: write the default as required, none... or `value`"
    documented = literal.group(1) if name == "profile" else expected_value(name, literal.group(1))
    assert documented == default


@pytest.mark.parametrize("name", list(FIELDS))
def test_the_documented_variable_is_read(name: str, tmp_path: Path) -> None:
    row = row_of(name)
    text, expected = example_of(name, tmp_path)
    config = RedtrustConfig.from_env({**BASE, row.variable: text})
    assert held(config, name) == expected
    # The example differs from what the field holds without it, so it was read.
    assert held(RedtrustConfig.from_env(BASE), name) != expected
