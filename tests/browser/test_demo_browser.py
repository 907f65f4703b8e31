"""``make demo`` in a real browser: open /me, sign in on the sandbox, see a refresh, sign out.

The servers are the demo's own (:func:`redtrust_middleware.cli.webdemo.started`) on free loopback
ports; the access tokens live a few seconds longer than the refresh leeway, so the refresh comes
after a short wait instead of half a minute.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from redtrust_middleware.cli.webdemo import started
from redtrust_middleware.client import AsyncClient
from redtrust_middleware.tokens import TokenSet

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SCREENSHOT = Path(tempfile.gettempdir()) / "redtrust-demo-me.png"  # for a look; not kept
TIMEOUT_MS = 10_000
TTL, LEEWAY = 33, 30  # a refresh is due 3 s after sign-in

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]


def _capture_exchanges(monkeypatch: pytest.MonkeyPatch) -> list[TokenSet]:
    """Record the token sets the app receives, to look for them where they must not be."""
    issued: list[TokenSet] = []
    exchange = AsyncClient.exchange

    async def recording(self: AsyncClient, temp_token: str) -> TokenSet:
        tokens = await exchange(self, temp_token)
        issued.append(tokens)
        return tokens

    monkeypatch.setattr(AsyncClient, "exchange", recording)
    return issued


def test_sign_in_refresh_and_sign_out(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = _capture_exchanges(monkeypatch)
    lines: list[str] = []
    with started(
        "127.0.0.1", 0, 0, say=lines.append, access_token_ttl=TTL, refresh_leeway=LEEWAY
    ) as demo:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()

            # Not signed in: /me sends the browser to the sandbox's sign-in page.
            page.goto(f"{demo.app_url}/me")
            assert page.url.startswith(f"{demo.sandbox_url}/authclient/auth/loginrequest?")
            page.fill("#username", "demo")
            page.fill("#password", "demo")
            with page.expect_navigation(url=f"{demo.app_url}/me"):
                page.click("button[type=submit]")

            # Back on /me, signed in, and no token anywhere the browser can see.
            assert page.url == f"{demo.app_url}/me"
            assert "Signed in as demo" in page.inner_text("body")
            page.screenshot(path=SCREENSHOT, full_page=True)
            (tokens,) = issued
            (session,) = demo.sandbox.sessions_for("demo")
            secrets = {tokens.access_token, session.refresh_token}
            assert tokens.refresh_token == session.refresh_token
            html = page.content()
            assert "eyJ" not in html
            assert not any(secret in html for secret in secrets)
            cookies = context.cookies()
            assert cookies
            for cookie in cookies:
                assert cookie["httpOnly"], cookie["name"]
                assert cookie["sameSite"] == "Lax", cookie["name"]
                assert "eyJ" not in cookie["value"]
                assert not any(secret in cookie["value"] for secret in secrets)

            # The refresh: the next request once the token is within the leeway.
            time.sleep(max(0.0, tokens.expires_in(time.time()) - LEEWAY) + 0.5)
            page.reload()
            assert "Signed in as demo" in page.inner_text("body")
            assert demo.sandbox.calls["refresh"] == 1
            assert any("token refreshed for demo" in line for line in lines)
            assert "eyJ" not in page.content()

            # Sign out with the page's button; /me asks for a sign-in again.
            page.click("button:has-text('Sign out')")
            page.wait_for_load_state()
            assert "Sign in with Redtrust" in page.inner_text("body")
            page.goto(f"{demo.app_url}/me")
            assert page.url.startswith(f"{demo.sandbox_url}/authclient/auth/loginrequest?")
        finally:
            context.close()

    assert any("signed in as demo" in line for line in lines)
    assert any("app      POST /redtrust/logout" in line for line in lines)
    assert any("sandbox  POST /authclient/auth/login 302" in line for line in lines)
    printed = "\n".join(lines)
    for secret in (*secrets, "tkn=", "hmac=", "eyJ"):
        assert secret not in printed
