"""Browser tests: a real Chromium driven by Playwright, and the example apps it visits.

Without Chromium or the ``playwright`` package these tests skip, except under CI (``CI=true``)
or ``REDTRUST_STRICT_TESTS=1``, where a missing browser is a failure: the check must run there.

One browser for the package, a fresh context (cookies, cache, history) per test, one server and
sandbox per example app per module. When a test fails, every page of its context is saved
(screenshot and HTML) in a temporary folder that the failure report names.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from redtrust_middleware.testing import require_system

from .sites import HOSTS, Host, Site, started

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: How long an action, a navigation or an expectation may take (a loaded 2-core machine).
TIMEOUT_MS = 15_000

_CONTEXTS = pytest.StashKey[list["BrowserContext"]]()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """A headless Debian Chromium (never a downloaded one: no ``playwright install``), one for
    all the browser tests; closed after them, as Playwright's event loop would disturb
    asyncio in the tests that follow.

    Playwright starts it on a fresh temporary profile (user-data dir), removed on close. Its
    back/forward cache stays on (Playwright turns it off by default), as in users' browsers:
    the back button may show a page from memory without asking the server.
    """
    require_system(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is missing (pip install -e '.[dev]')",
    )
    require_system(
        os.access(CHROMIUM, os.X_OK),
        f"{CHROMIUM} is missing (apt-get install -y chromium)",
    )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
            headless=True,
            timeout=30_000,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(
    browser: Browser, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """Opens fresh browser contexts (each a new profile: cookies, cache, history) for a test.

    Any answer 500 or above a context receives fails the test: no test here expects one.
    """
    opened: list[BrowserContext] = []
    server_errors: list[str] = []
    request.node.stash[_CONTEXTS] = opened

    def record(response: Response) -> None:
        if response.status >= 500:  # the URL without its query (a callback's carries tkn)
            where = urlsplit(response.url)._replace(query="").geturl()
            server_errors.append(f"{response.status} {response.request.method} {where}")

    def open_context(**options: Any) -> BrowserContext:
        """A new context; ``options`` are Playwright's (``timezone_id``, ``locale``, ...)."""
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.on("response", record)
        opened.append(context)
        return context

    try:
        yield open_context
    finally:
        for context in opened:
            context.close()
    assert not server_errors, f"server errors: {server_errors}"


@pytest.fixture
def context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    """The test's fresh browser context."""
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in the test's fresh context."""
    return context.new_page()


@pytest.fixture(scope="module", params=HOSTS, ids=str)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """An example app (one per :class:`Host`) under a real server, with its own sandbox.

    Tests choose other hosts with ``@pytest.mark.parametrize("site", ..., indirect=True)``.
    """
    host: Host = request.param
    with started(host, tmp_path_factory.mktemp(f"site-{host}")) as running_site:
        yield running_site


def _save_pages(contexts: list[BrowserContext]) -> list[str]:
    """Screenshots and HTML of the contexts' pages, in a new temporary folder."""
    from playwright.sync_api import Error

    folder = Path(tempfile.mkdtemp(prefix="redtrust-browser-"))
    lines = [f"saved in {folder}"]
    tabs = [tab for context in contexts for tab in context.pages]
    for number, tab in enumerate(tabs, start=1):
        try:
            tab.screenshot(path=folder / f"page{number}.png", full_page=True, timeout=5_000)
            (folder / f"page{number}.html").write_text(tab.content(), "utf-8")
            lines.append(f"page{number}.png/.html: {tab.url}")
        except Error as error:
            lines.append(f"page{number} ({tab.url}) not saved: {error.message.splitlines()[0]}")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, save the test's pages and name where (and the server log) in the report."""
    report = yield
    contexts = item.stash.get(_CONTEXTS, [])
    if report.when != "call" or not report.failed or not contexts:
        return report
    lines = _save_pages(contexts)
    funcargs = getattr(item, "funcargs", {})
    lines += [f"{v.host} server log: {v.log}" for v in funcargs.values() if isinstance(v, Site)]
    report.sections.append(("browser pages", "\n".join(lines)))
    return report
