"""A failing browser test leaves its pages behind (screenshot and HTML) and says where."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.servers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser

FAILING = """
def test_fails(page):
    page.set_content("<h1>Seen when it failed</h1>")
    assert False, "on purpose"
"""


def test_a_failing_test_saves_its_pages(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, browser: Browser
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(
        "from tests.browser.conftest import browser, context, new_context, page\n"
        "from tests.browser.conftest import pytest_runtest_makereport\n"
    )
    pytester.makepyfile(FAILING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- browser pages -*", "saved in *", "page1.png/.html: *"])
    (saved,) = [line for line in result.outlines if line.startswith("saved in ")]
    folder = Path(saved.removeprefix("saved in "))
    try:
        assert (folder / "page1.png").read_bytes().startswith(b"\x89PNG\r\n")
        assert "Seen when it failed" in (folder / "page1.html").read_text("utf-8")
    finally:
        shutil.rmtree(folder)
