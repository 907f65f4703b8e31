"""The deployment guide's examples are valid Python and its store settings are accepted."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from redtrust_middleware.stores import RedisStore

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
# Blocks inside list items are indented: dedent them as Markdown does.
BLOCKS = [
    textwrap.dedent(block)
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text("utf-8"), flags=re.S)
]


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_guide_example_compiles(source: str) -> None:
    compile(source, str(GUIDE), "exec")


def test_the_explicit_store_example_builds_a_store() -> None:
    source = next(block for block in BLOCKS if "store = RedisStore(" in block)
    namespace: dict[str, object] = {"RedisStore": RedisStore}
    exec(compile(source, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own docs
    store = namespace["store"]
    assert isinstance(store, RedisStore)
    assert store.prefix == "shop:"
    assert "password" not in repr(store)
    store.close()  # nothing was connected: building a store does not talk to Redis
