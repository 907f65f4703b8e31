"""Browser tests: a real Chromium driven by Playwright.

Without Chromium or the ``playwright`` package these tests skip, except under CI (``CI=true``)
or ``REDTRUST_STRICT_TESTS=1``, where a missing browser is a failure: the check must run there.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from redtrust_middleware.testing import require_system

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Debian Chromium (never a downloaded one: no ``playwright install``)."""
    require_system(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is missing (pip install -e '.[dev]')",
    )
    require_system(
        os.access(CHROMIUM, os.X_OK),
        f"{CHROMIUM} is missing (apt-get install -y chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()
