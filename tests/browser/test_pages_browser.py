"""The example pages as a person sees them, in a real Chromium on each example app: sign in,
a bad form, issue, renew, download the PEM, sign out; a full-page screenshot of each state.

The screenshots go to ``tests/browser/screenshots/<app>/`` (git-ignored; the folder is
printed), to be looked at. What they should show is asserted here too: the notice after each
action, the input kept after a bad form, times written for a reader in the browser's own time
zone (no ISO string in the text), long hex values on one line, and a download whose bytes are
the certificate the page names (read by ``openssl``, not by the code under test).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from redtrust_middleware.testing import require_system

from .sites import Site
from .test_examples_browser import expect, sign_in, sign_out_with_the_button

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

SCREENSHOTS = Path(__file__).parent / "screenshots"
#: A zone far from UTC, with a half hour, and the locale the browser formats dates in.
ZONE, LOCALE = "Asia/Kolkata", "en-GB"
WIDTH = 1280
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def expect_readable_times(page: Page) -> None:
    """Every ``<time>`` shows its instant in the browser's zone (by Python's zoneinfo, an
    independent oracle for the browser's ICU), and no ISO string is left in the text."""
    times = page.locator("main time")
    expect(times.first).to_be_visible()
    for index in range(times.count()):
        element = times.nth(index)
        instant = datetime.fromisoformat(element.get_attribute("datetime") or "")
        local = instant.astimezone(ZoneInfo(ZONE))
        expect(element).to_contain_text(f"{local:%H:%M}")
        expect(element).to_contain_text(f"{local.year}")
        expect(element).not_to_contain_text("UTC")
    assert not ISO.search(page.locator("body").inner_text())


def one_line(value: Locator) -> None:
    """The element is a single line of text: as tall as one character of the same style."""
    heights = value.evaluate(
        """e => {
            const probe = e.cloneNode(false); probe.textContent = '0';
            e.parentNode.insertBefore(probe, e);
            const one = probe.getBoundingClientRect().height; probe.remove();
            return [e.getBoundingClientRect().height, one, e.getClientRects().length];
        }"""
    )
    height, one, rects = heights
    assert height == one, (value.inner_text(), heights)
    assert rects == 1, (value.inner_text(), heights)


def openssl(pem: Path, *options: str) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", *options, "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()


def test_the_pages_a_person_sees(
    site: Site, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    require_system(
        bool(subprocess.run(["which", "openssl"], capture_output=True).stdout), "openssl"
    )
    folder = SCREENSHOTS / str(site.host)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of {site.host}: {folder}")  # noqa: T201 (for a person to open)
    page = new_context(
        timezone_id=ZONE, locale=LOCALE, viewport={"width": WIDTH, "height": 800}
    ).new_page()

    sign_in(page, site)
    expect(page.locator("main")).to_contain_text(re.compile(r"expires .*\(in \d+ s\)"))
    expect_readable_times(page)
    shoot(page, folder, "1-me")

    page.get_by_role("link", name="Certificates").click()
    expect(page.get_by_role("heading", name="Your certificates")).to_be_visible()
    shoot(page, folder, "2-certificates-empty")

    # A CN the browser lets through (40 characters) but Redtrust would refuse (80 bytes).
    too_long = "é" * 40
    page.get_by_label("Common name (CN)").fill(too_long)
    page.get_by_label("Organization (O)").fill("Example <Org> & Co")
    page.get_by_label("Country (C)").fill("ES")
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("alert")).to_contain_text("The certificate was not requested")
    expect(page.get_by_label("Common name (CN)")).to_have_value(too_long)
    expect(page.get_by_label("Organization (O)")).to_have_value("Example <Org> & Co")
    expect(page.get_by_label("Country (C)")).to_have_value("ES")
    cn_error = page.locator("#cn + .field-error")  # right after its field
    expect(cn_error).to_contain_text("64 bytes")
    expect(page.get_by_label("Common name (CN)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_have_count(1)
    shoot(page, folder, "3-bad-form")

    cn = f"Browser {site.host} {time.time_ns()}"
    page.get_by_label("Common name (CN)").fill(cn)
    page.get_by_role("button", name="Request").click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Certificate issued: serial")
    card = page.locator("article.cert", has_text=cn)
    expect(card).to_have_count(1)
    serial = card.locator("code[title=serial]")
    assert notice.locator("code").inner_text() == serial.inner_text()
    issued_serial = serial.get_attribute("data-copy")
    for value in card.locator("code.hex").all():
        one_line(value)
    expect_readable_times(page)
    shoot(page, folder, "4-issued")

    card.get_by_role("button", name="Renew").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate renewed: serial")
    card = page.locator("article.cert", has_text=cn)
    expect(card).to_have_count(1)
    renewed_serial = card.locator("code[title=serial]").get_attribute("data-copy")
    assert renewed_serial
    assert renewed_serial != issued_serial
    thumbprint = card.locator("code[title=thumbprint]").get_attribute("data-copy")
    expect(card.locator("code[title=serial]")).to_have_text(
        " ".join(re.findall(".{1,4}", renewed_serial))
    )
    shoot(page, folder, "5-renewed")

    with page.expect_download() as downloading:
        card.get_by_role("link", name="Download PEM").click()
    download = downloading.value
    assert download.suggested_filename == cn.replace(" ", "-") + ".pem"
    pem = tmp_path / download.suggested_filename
    download.save_as(pem)
    assert pem.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert openssl(pem, "-subject") == f'subject=CN = {cn}, O = "Example <Org> & Co", C = ES'
    assert openssl(pem, "-serial") == f"serial={renewed_serial}"
    fingerprint = openssl(pem, "-fingerprint", "-sha1")
    assert fingerprint.split("=", 1)[1].replace(":", "") == thumbprint
    assert download.url == f"{site.url}/certificates/download?cert={thumbprint}"  # nothing secret
    assert "redtrust" not in download.url.lower() or "tkn" not in download.url

    sign_out_with_the_button(page, site)  # to /?notice=signed-out
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    shoot(page, folder, "6-signed-out")
    page.goto(site.url + "/me")  # signed out for real
    expect(page).to_have_url(site.sign_in_page)
