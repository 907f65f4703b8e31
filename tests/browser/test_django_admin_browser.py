"""The Django admin in a real Chromium: signed in with Redtrust, logged out with the admin's own
"Log out" button (a POST carrying Django's CSRF token, as the admin's form sends it), which
ends the Redtrust session too: in the site and at Redtrust.

The example site under uvicorn (ASGI) and under ``runserver`` (WSGI), on the ``ra-api``
profile (it has a remote logout, so its end is seen at the sandbox), with ``alice`` a
superuser made by ``manage.py createsuperuser``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .sites import Host, started
from .test_examples_browser import expect, expect_sign_in_asked, submit_sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

#: Django under uvicorn, and under runserver (a set Referrer-Policy: Django's default one).
SERVERS = [Host("django"), Host("django", "same-origin")]


@pytest.mark.parametrize("host", SERVERS, ids=["uvicorn", "runserver"])
def test_the_admins_log_out_button_ends_the_redtrust_session(
    host: Host, page: Page, tmp_path: Path
) -> None:
    with started(host, tmp_path, superusers=["alice"], REDTRUST_PROFILE="ra-api") as site:
        page.goto(site.url + "/admin/")  # the admin's login is a Redtrust sign-in
        expect(page).to_have_url(site.sign_in_page)
        submit_sign_in(page, "alice")
        expect(page).to_have_url(site.url + "/admin/")
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        assert [s.active for s in site.sandbox.sessions_for("alice")] == [True]

        def is_logout(response: Response) -> bool:
            return response.url == site.url + "/admin/logout/"

        with page.expect_response(is_logout) as logged_out:
            page.get_by_role("button", name="Log out").click()
        assert logged_out.value.request.method == "POST"
        assert logged_out.value.status == 200  # not 403: the admin's form carried its token
        expect(page.locator("#content")).to_contain_text("Thanks for spending some quality time")
        # Ended at Redtrust, and in the site: the next page asks for a sign-in again.
        assert [s.active for s in site.sandbox.sessions_for("alice")] == [False]
        assert site.sandbox.calls["logout"] == 1
        expect_sign_in_asked(page, site)
        page.goto(site.url + "/admin/")
        expect(page).to_have_url(site.sign_in_page)
