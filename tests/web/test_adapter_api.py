"""The Starlette adapter stays thin and its public names are honest."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import redtrust_starlette

ADAPTER = Path(redtrust_starlette.__file__).parent


@pytest.mark.parametrize("module", ["redtrust_starlette", "redtrust_starlette.fastapi"])
def test_all_lists_exactly_the_public_names(module: str) -> None:
    loaded = importlib.import_module(module)
    public = {name for name in vars(loaded) if not name.startswith("_")}
    exported = set(loaded.__all__)
    assert exported <= public
    defined_here = {
        name
        for name in public
        if getattr(getattr(loaded, name), "__module__", "").startswith(module)
        and not isinstance(getattr(loaded, name), type(importlib))
    }
    assert defined_here <= exported


def test_adapter_files_stay_small() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in ADAPTER.glob("*.py")}
    assert sizes
    assert max(sizes.values()) < 200, sizes
