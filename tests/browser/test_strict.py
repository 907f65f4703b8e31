"""Tests needing a system package (Chromium, redis-server) skip when it is missing, but fail in
strict mode."""

from __future__ import annotations

import pytest

from redtrust_middleware.testing import require_system as require
from redtrust_middleware.testing import strict_tests as strict


@pytest.mark.parametrize(
    ("ci", "flag", "expected"),
    [("", "", False), ("true", "", True), ("", "1", True), ("false", "0", False)],
)
def test_strict_mode_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, ci: str, flag: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("REDTRUST_STRICT_TESTS", flag)
    assert strict() is expected


def test_missing_dependency_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    require(True, "present")  # nothing happens
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("REDTRUST_STRICT_TESTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require(False, "chromium is missing")
    monkeypatch.setenv("REDTRUST_STRICT_TESTS", "1")
    with pytest.raises(pytest.fail.Exception, match=r"chromium is missing.*STRICT"):
        require(False, "chromium is missing")
