"""docs/sizing.md against a fresh measurement (benchmarks/sizing.py on a real redis-server):
the bytes of each key within 15 % of the page's figure, the commands of each step exactly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from benchmarks.sizing import Sizing, measure

from redtrust_middleware.testing import require_system

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "sizing.md").read_text("utf-8")
TOLERANCE = 0.15


@pytest.fixture(scope="module")
def sizing() -> Sizing:
    """One measurement for the module (skips without redis-server, fails in strict mode)."""
    require_system(
        shutil.which("redis-server") is not None,
        "redis-server is missing (apt-get install -y redis-server)",
    )
    return measure(requests=50)


def _documented_bytes() -> dict[str, int]:
    return {kind: int(size) for kind, size in re.findall(r"^\| `(\w+)` \| (\d+) \|", PAGE, re.M)}


def _documented_commands(step: str) -> int:
    found = re.search(rf"^\| {re.escape(step)}[^|]* \| (\d+)", PAGE, re.M)
    assert found, f"no row for {step!r} in docs/sizing.md"
    return int(found.group(1))


def test_the_page_lists_every_key_a_session_writes(sizing: Sizing) -> None:
    assert set(_documented_bytes()) == set(sizing.written)


@pytest.mark.parametrize("kind", ["session", "grace", "pending", "lock"])
def test_bytes_per_key_are_the_measured_ones(sizing: Sizing, kind: str) -> None:
    documented = _documented_bytes()[kind]
    measured = sizing.written[kind]
    assert abs(measured - documented) <= TOLERANCE * documented, (kind, measured, documented)


def test_a_signed_in_request_sends_one_get(sizing: Sizing) -> None:
    assert sizing.commands["request"] == {"get": sizing.requests}
    assert _documented_commands("signed-in request") == 1


@pytest.mark.parametrize("step", ["refresh", "sign-in", "sign-out"])
def test_commands_per_step_are_the_measured_ones(sizing: Sizing, step: str) -> None:
    # Once per connection or process, not per step: the page says so apart.
    sent = {k: v for k, v in sizing.commands[step].items() if k not in ("hello", "script|load")}
    assert _documented_commands(step) == sum(sent.values()), sent
