"""The example apps (Starlette, FastAPI, Django) in a real Chromium, over real sockets.

Every test runs on each app (the ``site`` fixture), in a fresh browser context. Only real
clicks, typing and navigation: no header is ever set by hand, so what the apps see is what a
browser sends (``Origin``, ``Referer``, ``Sec-Fetch-*`` included). No answer may be a 5xx
(the ``new_context`` fixture checks every response).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from redtrust_middleware.sandbox import CertificateInfo

from .sites import HOSTS, LEEWAY, NO_REFERRER_HOSTS, USERS, Site

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request, Response

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

CALLBACK = "/redtrust/callback"
LOGOUT = "/redtrust/logout"
#: How long the wait for a refresh may take (its window opens a couple of seconds in).
REFRESH_DEADLINE = 30.0
#: Seconds each sandbox answer is delayed while two sign-ins must overlap.
OVERLAP = 1.0
#: What only a signed-in user's pages show.
SIGNED_IN_TEXTS = ("Signed in as", "Hello demo", "Hello alice")


def expect(actual: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def expect_signed_in(page: Page, user: str) -> None:
    expect(page.locator("body")).to_contain_text(f"Signed in as {user}")


def expect_signed_out(page: Page) -> None:
    """The page shows nothing of a signed-in user: no name, no sign-out button."""
    body = page.locator("body")
    for text in SIGNED_IN_TEXTS:
        expect(body).not_to_contain_text(text)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def is_callback(request: Request) -> bool:
    return urlsplit(request.url).path == CALLBACK


def submit_sign_in(page: Page, user: str, **click: Any) -> None:
    """On the sandbox's sign-in page: type the user's name and password, click Sign in."""
    page.locator("#username").fill(user)
    page.locator("#password").fill(USERS[user])
    page.get_by_role("button", name="Sign in").click(**click)


def sign_in(page: Page, site: Site, user: str = "demo") -> str:
    """Open /me, sign in on the sandbox's page; the callback URL the browser followed."""
    page.goto(site.url + "/me")
    expect(page).to_have_url(site.sign_in_page)
    with page.expect_request(is_callback) as callback:
        submit_sign_in(page, user)
    expect(page).to_have_url(site.url + "/me")
    expect_signed_in(page, user)
    return callback.value.url


def expect_sign_in_asked(page: Page, site: Site) -> None:
    """/me now sends the browser to the sandbox's sign-in page."""
    page.goto(site.url + "/me")
    expect(page).to_have_url(site.sign_in_page)


def sign_out_with_the_button(page: Page, site: Site, landing: str = "/?notice=signed-out") -> None:
    """Click the page's Sign-out button: the POST succeeds (303) and lands on the home page
    (the example pages' button: with the notice that says so)."""

    def is_sign_out(response: Response) -> bool:
        return urlsplit(response.url).path == LOGOUT and response.request.method == "POST"

    with page.expect_response(is_sign_out) as posted:
        page.get_by_role("button", name="Sign out").click()
    assert posted.value.status == 303, f"sign-out answered {posted.value.status}"
    expect(page).to_have_url(site.url + landing)
    expect(page.get_by_role("link", name="Sign in with Redtrust")).to_be_visible()


def expect_refused_callback(page: Page) -> None:
    """The library's page for a callback it cannot complete: sign in again."""
    expect(page.get_by_role("heading")).to_have_text("Sign-in could not be completed")
    expect(page.get_by_role("link", name="Sign in again")).to_be_visible()
    expect_signed_out(page)


def shown_expiry(page: Page) -> datetime:
    """The access token's expiry, as the /me page shows it (its ``<time>`` element)."""
    moment = page.locator("p", has_text="expires").locator("time").get_attribute("datetime")
    return datetime.fromisoformat(moment or "")


def wait_until(moment: float, deadline: float) -> None:
    """Poll the clock until ``time.time()`` reaches ``moment``; fail after ``deadline`` s."""
    give_up = time.monotonic() + deadline
    while (left := moment - time.time()) > 0:
        assert time.monotonic() < give_up, f"{left:.1f} s still to wait after {deadline} s"
        time.sleep(min(0.05, left))


# -- the scenarios ------------------------------------------------------------------------------


def test_sign_in_on_the_sandbox_page(site: Site, page: Page, context: BrowserContext) -> None:
    sign_in(page, site)
    (session,) = [s for s in site.sandbox.sessions_for("demo") if s.active]
    html = page.content()
    assert "eyJ" not in html
    assert session.refresh_token not in html
    for cookie in context.cookies():
        assert "eyJ" not in cookie["value"]
        assert session.refresh_token not in cookie["value"]
        if cookie["name"] != "csrftoken":  # Django's CSRF cookie is readable by design
            assert cookie["httpOnly"], cookie["name"]


def test_a_sign_in_started_at_localhost_ends_at_public_url(site: Site, page: Page) -> None:
    # PUBLIC_URL says 127.0.0.1; the user typed localhost. The browser would keep the login
    # cookie for localhost and come back to 127.0.0.1 without it: the login is moved first.
    local = site.url.replace("://127.0.0.1:", "://localhost:")
    page.goto(local + "/me")
    expect(page).to_have_url(site.sign_in_page)
    submit_sign_in(page, "demo")
    expect(page).to_have_url(site.url + "/me")
    expect_signed_in(page, "demo")


def test_reload_across_a_token_refresh(site: Site, page: Page) -> None:
    sign_in(page, site)
    before = shown_expiry(page)
    refreshes = site.sandbox.calls["refresh"]
    # Inside the leeway, the next request refreshes the token. The page shows whole seconds,
    # so the real expiry may be up to 1 s later than shown; plus a margin for rounding.
    wait_until(before.timestamp() + 1 - LEEWAY + 0.5, REFRESH_DEADLINE)
    page.reload()
    expect_signed_in(page, "demo")
    assert shown_expiry(page) > before
    assert site.sandbox.calls["refresh"] > refreshes
    assert site.sandbox.calls["refresh_reuse"] == 0
    page.reload()
    expect_signed_in(page, "demo")


def test_two_tabs_sign_in_at_once(site: Site, context: BrowserContext) -> None:
    """Both sign-ins in flight together: a slow Redtrust (every sandbox answer
    :data:`OVERLAP` s late) keeps the first from finishing before the second is sent."""
    tabs = [context.new_page(), context.new_page()]
    for tab in tabs:
        tab.goto(site.url + "/me")
        expect(tab).to_have_url(site.sign_in_page)
    site.sandbox.latency = OVERLAP
    try:
        for tab in tabs:  # the second click does not wait for the first sign-in
            submit_sign_in(tab, "demo", no_wait_after=True)
        for tab in tabs:
            expect(tab).to_have_url(site.url + "/me")
            expect_signed_in(tab, "demo")
    finally:
        site.sandbox.latency = 0
    for tab in tabs:  # both stay signed in, on the browser's one session cookie
        tab.reload()
        expect_signed_in(tab, "demo")


def test_issue_and_renew_a_certificate(site: Site, page: Page) -> None:
    sign_in(page, site)
    page.get_by_role("link", name="Certificates").click()
    expect(page).to_have_url(site.url + "/certificates")
    cn = f"Browser {site.host} {time.time_ns()}"
    page.get_by_label("Common name (CN)").fill(cn)
    page.get_by_label("Organization (O)").fill("Example Org")
    page.get_by_label("Country (C)").fill("ES")
    page.get_by_role("button", name="Request").click()

    row = page.locator("article", has_text=cn)
    expect(row).to_have_count(1)
    issued = _certificate(site, cn)
    thumbprint = row.locator("code[title=thumbprint]")
    expect(thumbprint).to_have_attribute("data-copy", issued.thumbprint)
    expect(thumbprint).to_have_text(grouped(issued.thumbprint))

    row.get_by_role("button", name="Renew").click()
    expect(thumbprint).not_to_have_attribute("data-copy", issued.thumbprint)
    expect(row).to_have_count(1)
    renewed = _certificate(site, cn, renewed_from=issued.thumbprint)
    expect(thumbprint).to_have_attribute("data-copy", renewed.thumbprint)
    expect(thumbprint).to_have_text(grouped(renewed.thumbprint))


def grouped(hex_digits: str) -> str:
    """Hex as the pages show it: groups of four digits."""
    return " ".join(hex_digits[i : i + 4] for i in range(0, len(hex_digits), 4))


def _certificate(site: Site, cn: str, renewed_from: str | None = None) -> CertificateInfo:
    """The one certificate the sandbox issued to demo for ``cn`` (renewing ``renewed_from``)."""
    (found,) = [
        c
        for c in site.sandbox.certificates_for("demo")
        if cn in c.certificate.subject.rfc4514_string() and c.renewed_from == renewed_from
    ]
    return found


@pytest.mark.parametrize("site", HOSTS + NO_REFERRER_HOSTS, indirect=True, ids=str)
def test_sign_out_with_the_page_button(site: Site, page: Page) -> None:
    """Also on a host site whose pages send ``Referrer-Policy: no-referrer``: Chromium then
    posts the form with ``Origin: null`` and no Referer."""
    sign_in(page, site)
    sign_out_with_the_button(page, site)
    expect_sign_in_asked(page, site)


def test_sign_out_through_the_confirmation_page(site: Site, page: Page) -> None:
    sign_in(page, site)
    page.goto(site.url + LOGOUT)
    expect(page.get_by_role("heading")).to_have_text("Sign out?")
    sign_out_with_the_button(page, site, landing="/")  # the library's own page: no notice
    expect_sign_in_asked(page, site)


def test_back_button_after_sign_out(site: Site, page: Page) -> None:
    sign_in(page, site)
    signed_in_pages: list[Response] = []

    def record(response: Response) -> None:
        if response.request.resource_type == "document":
            signed_in_pages.append(response)

    page.on("response", record)
    page.get_by_role("link", name="Home").click()
    expect(page.locator("body")).to_contain_text("Hello demo")
    page.get_by_role("link", name="Me", exact=True).click()
    expect_signed_in(page, "demo")
    page.remove_listener("response", record)
    assert "eyJ" not in page.content()  # no token in the page
    sign_out_with_the_button(page, site)

    # Back to /me: the browser asks the server again, which sends it to sign in.
    page.go_back(wait_until="commit")
    expect(page).not_to_have_url(site.url + "/")
    expect_signed_out(page)
    page.reload()
    expect(page).to_have_url(site.sign_in_page)
    # Back again, to the home page seen signed in: now the public one.
    page.go_back(wait_until="commit")
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("body")).to_contain_text("This page is public")
    expect_signed_out(page)
    # Because neither signed-in page was kept: no-store (with bfcache, Chromium's default).
    assert [urlsplit(r.url).path for r in signed_in_pages] == ["/", "/me"]
    for response in signed_in_pages:
        assert "no-store" in response.headers.get("cache-control", ""), response.url


def test_callback_replayed_from_history(
    site: Site, page: Page, new_context: Callable[[], BrowserContext]
) -> None:
    """A callback URL used again (history, a restored tab, another browser) is refused with
    a page that offers a new sign-in: never a 500, never someone else's session."""
    callback = sign_in(page, site)

    page.goto(callback)  # signed in: refused, and the session is kept
    expect_refused_callback(page)
    page.goto(site.url + "/me")
    expect_signed_in(page, "demo")

    other = new_context().new_page()  # alice's browser stays alice's
    sign_in(other, site, "alice")
    other.goto(callback)
    expect_refused_callback(other)
    other.goto(site.url + "/me")
    expect_signed_in(other, "alice")

    sign_out_with_the_button(page, site)  # signed out: refused, and still signed out
    page.goto(callback)
    expect_refused_callback(page)
    page.goto(site.url + "/")
    page.go_back(wait_until="commit")  # the callback again, from history
    expect(page).to_have_url(callback)
    expect_refused_callback(page)
    page.get_by_role("link", name="Sign in again").click()
    expect(page).to_have_url(site.sign_in_page)
    submit_sign_in(page, "demo")
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("body")).to_contain_text("Hello demo")


# -- the frameworks' own identity machinery, and the browser's own language ------------------

#: The hosts whose example has an ``/account`` page protected by the framework's own check:
#: Django's ``login_required`` (RedtrustBackend on) and Starlette's ``requires()``.
ACCOUNT_HOSTS = tuple(host for host in HOSTS if host.app in ("starlette", "fastapi", "django"))


def account_path(site: Site) -> str:
    return "/account/" if site.host.app == "django" else "/account"


def expect_account_of(page: Page, site: Site, user: str) -> None:
    """The account page names the framework's user: Django's ``request.user`` (the one
    RedtrustBackend logged in) or Starlette's ``request.user``."""
    expect(page).to_have_url(site.url + account_path(site))
    if site.host.app == "django":
        expect(page.get_by_role("heading")).to_have_text("Account")
        expect(page.locator("p")).to_have_text(user)
    else:
        expect(page.locator("body")).to_contain_text(f"Signed in as {user}.")


@pytest.mark.parametrize("site", ACCOUNT_HOSTS, indirect=True, ids=str)
def test_the_frameworks_own_login_check_signs_in_with_redtrust(site: Site, page: Page) -> None:
    """``/account`` (``login_required`` / ``requires("authenticated")``) sends a browser
    without a sign-in to the Redtrust login, shows the user after it, and asks again after
    sign-out."""
    page.goto(site.url + account_path(site))
    expect(page).to_have_url(site.sign_in_page)
    submit_sign_in(page, "alice")
    expect_account_of(page, site, "alice")
    page.reload()
    expect_account_of(page, site, "alice")

    page.goto(site.url + LOGOUT)
    sign_out_with_the_button(page, site, landing="/")
    page.goto(site.url + account_path(site))
    expect(page).to_have_url(site.sign_in_page)
    submit_sign_in(page, "demo")  # another user on the same browser: the new one is shown
    expect_account_of(page, site, "demo")


def test_the_librarys_pages_follow_the_browsers_language(
    site: Site, new_context: Callable[..., BrowserContext]
) -> None:
    """A Spanish browser (Chromium's own ``Accept-Language``, from the context's locale) gets
    the library's refusal and sign-out pages in Spanish; the sign-out still works."""
    page = new_context(locale="es-ES").new_page()
    language = page.evaluate("navigator.language")
    assert language == "es-ES", language
    callback = sign_in(page, site)

    page.goto(callback)  # used already: refused, in Spanish
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading")).to_have_text(
        "No se ha podido completar el inicio de sesión"
    )
    expect(page.get_by_role("link", name="Volver a iniciar sesión")).to_be_visible()

    page.goto(site.url + LOGOUT)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading")).to_have_text("¿Cerrar sesión?")

    def is_sign_out(response: Response) -> bool:
        return urlsplit(response.url).path == LOGOUT and response.request.method == "POST"

    with page.expect_response(is_sign_out) as posted:
        page.get_by_role("button", name="Cerrar sesión").click()
    assert posted.value.status == 303, f"sign-out answered {posted.value.status}"
    assert "es" in (posted.value.request.header_value("accept-language") or "")
    expect(page).to_have_url(site.url + "/")
    expect_sign_in_asked(page, site)
