"""The example pages a person reads (Starlette, FastAPI and the demo's app): readable times,
a notice after each action, certificates downloadable as PEM (only one's own)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from redtrust_middleware.cli.pages import hex_groups, readable_time, relative_time
from redtrust_middleware.testing import TEST_APP_URL, TEST_USERS

from .conftest import APPS, Site, make_site, page_signout_token, path_of
from .test_certificates_pages import nonce_of, request_certificate

pytestmark = pytest.mark.anyio

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture(params=sorted(APPS))
async def clocked(request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    """A site whose pages read the same fake clock as its sandbox and sessions."""
    built, _ = make_site(APPS[request.param], with_clock=True)
    async with built.browser:
        yield built


def visible(text: str) -> str:
    """A page's text without its tags, style and script (roughly what a reader sees)."""
    text = re.sub(r"<(style|script)>.*?</\1>", "", text, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


async def test_the_token_expiry_is_readable(clocked: Site) -> None:
    await clocked.sign_in("/me")
    expires = datetime.fromisoformat(
        (await clocked.browser.get("/api/me")).json()["token_expires_at"]
    )
    me = await clocked.browser.get("/me")
    # The sandbox's tokens live 300 s: "in 5 min", by the same clock.
    assert "(in 5 min)" in me.text
    stamp = expires.astimezone(UTC)
    written = f"{stamp.day} {stamp:%b} {stamp.year}, {stamp:%H:%M} UTC"
    assert f'<time datetime="{stamp:%Y-%m-%dT%H:%M:%S}Z">{written}</time>' in me.text
    assert not ISO.search(visible(me.text))
    clocked.clock.advance(200)
    assert "(in 1 min)" in (await clocked.browser.get("/me")).text


async def test_a_certificate_downloads_as_pem(clocked: Site) -> None:
    await clocked.sign_in("/certificates")
    location = await request_certificate(clocked, cn="Alice Example / Test", c="ES")
    (held,) = clocked.sandbox.certificates_for("alice")
    page = await clocked.browser.get(location)
    link = re.search(r'<a href="([^"]+)" download>Download PEM</a>', page.text)
    assert link
    answer = await clocked.browser.get(link.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-pem-file"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="Alice-Example-Test.pem"'
    )
    assert answer.headers["cache-control"] == "no-store"
    assert x509.load_pem_x509_certificate(answer.content) == held.certificate
    assert answer.content == held.certificate.public_bytes(Encoding.PEM)


async def test_only_the_owner_downloads_a_certificate() -> None:
    site, app = make_site(APPS["starlette"])
    async with site.browser:
        await site.sign_in("/certificates")
        await request_certificate(site, cn="Alice")
        (held,) = site.sandbox.certificates_for("alice")
        mine = await site.browser.get(f"/certificates/download?cert={held.thumbprint}")
        assert mine.status_code == 200
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=TEST_APP_URL
        ) as bob:
            start = await bob.get("/redtrust/login", params={"next": "/me"})
            callback = site.sandbox.sign_in(start.headers["location"], "bob", TEST_USERS["bob"])
            await bob.get(path_of(callback))
            theirs = await bob.get(f"/certificates/download?cert={held.thumbprint}")
            assert theirs.status_code == 404
            assert b"BEGIN CERTIFICATE" not in theirs.content
            for bad in ("", "?cert=zz", "?cert=" + "A" * 40):
                assert (await bob.get("/certificates/download" + bad)).status_code == 404
        signed_out = await httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=TEST_APP_URL
        ).get(f"/certificates/download?cert={held.thumbprint}")
        assert signed_out.status_code == 302  # to sign in


async def test_signing_out_says_so(site: Site) -> None:
    await site.sign_in("/me")
    me = await site.browser.get("/me")
    action = re.search(r'<form class="sign" method="post" action="([^"]+)">', me.text)
    assert action
    answer = await site.browser.post(
        action.group(1).replace("&amp;", "&"),
        data={"redtrust_signout": page_signout_token(me.text)},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/?notice=signed-out"
    home = await site.browser.get(answer.headers["location"])
    assert "You are signed out." in home.text
    assert "Sign in with Redtrust" in home.text


async def test_a_crafted_notice_announces_nothing_false(site: Site) -> None:
    """Notices come from a fixed list, and name only a certificate the user holds."""
    assert "signed out" not in (await site.browser.get("/?notice=issued")).text
    await site.sign_in("/certificates")
    assert "You are signed out" not in (await site.browser.get("/?notice=signed-out")).text
    for crafted in ("notice=issued", "notice=renewed&cert=" + "AB" * 20):
        page = await site.browser.get("/certificates?" + crafted)
        assert 'class="notice"' not in page.text  # nothing was issued: nothing is announced
    page = await site.browser.get("/certificates?notice=<script>&cert=x")
    assert "<script>" not in visible(page.text)
    assert 'class="notice"' not in page.text
    assert nonce_of(page.text)


# -- the pieces, against values worked out by hand ------------------------------------------


@pytest.mark.parametrize(
    ("offset", "said"),
    [
        (0.2, "now"),
        (45, "in 45 s"),
        (-45, "45 s ago"),
        (4 * 60 + 59, "in 4 min"),
        (-4 * 60, "4 min ago"),
        (3 * 3600 + 5, "in 3 h"),
        (-30 * 3600, "30 h ago"),
        (3 * 86400, "in 3 days"),
        (86400 * 90, "in 3 months"),
        (86400 * 365 - 60, "in 1 year"),
        (-86400 * 800, "2 years ago"),
    ],
)
def test_relative_time(offset: float, said: str) -> None:
    now = 1_800_000_000.0
    assert relative_time(datetime.fromtimestamp(now + offset, tz=UTC), now) == said


def test_readable_time() -> None:
    moment = datetime(2026, 12, 1, 18, 48, 55, 29653, tzinfo=UTC)
    assert readable_time(moment) == (
        '<time datetime="2026-12-01T18:48:55Z">1 Dec 2026, 18:48 UTC</time>'
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0xA1B, "0A1B"),
        (0x1A2B3C4D5E, "1A2B 3C4D 5E"),
        ("ab" * 20, "ABAB " * 9 + "ABAB"),
    ],
)
def test_hex_groups(value: int | str, shown: str) -> None:
    assert hex_groups(value) == shown
