"""A scripted walkthrough of the whole flow against the sandbox over a real socket.

login start -> the user signs in on the sandbox's page -> callback and token exchange ->
a request with a fresh token -> refresh before expiry -> a replayed callback is refused ->
logout -> direct login. Each step prints what happened on the wire (tokens abbreviated).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from .. import _http
from ..config import PROFILES, RedtrustConfig
from ..exceptions import RedtrustError
from ..session import SessionManager
from ..stores import MemoryStore
from .webdemo import DEMO_PARTNER, DEMO_SECRET, DEMO_USER

if TYPE_CHECKING:
    from ..sandbox import Sandbox

__all__ = ["main", "walkthrough"]

APP_URL = "http://127.0.0.1:8000"


class ShiftedClock:
    """The wall clock plus an offset, so the demo can jump ahead instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class _FormReader(HTMLParser):
    """Reads the sandbox's sign-in form: its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values.get("name", "")] = values.get("value", "")


def _short(value: str, keep: int = 10) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def _redact_url(url: str) -> str:
    """Abbreviate signatures and tokens in a URL for display."""
    return re.sub(r"((?:hmac|tkn|state)(?:=|%3D))([^&%]+)", lambda m: m[1] + _short(m[2], 8), url)


def _step(number: int, title: str, detail: str) -> None:
    print(f"{number:>2}. {title:<18}{detail}")


def _result(text: str) -> None:
    print(f"    {'':<18}-> {text}")


def _sign_in_on_sandbox(login_url: str, username: str, password: str) -> str:
    """Play the user's browser on the sandbox: open the page, post the form, follow nothing."""
    with _http.plain_client() as browser:
        page = browser.get(login_url)
        if page.status_code != 200:
            raise SystemExit(f"the sandbox refused the login link: {page.status_code}")
        form = _FormReader()
        form.feed(page.text)
        fields = {**form.fields, "username": username, "password": password}
        answer = browser.post(urljoin(login_url, form.action), data=fields)
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location:
            raise SystemExit(f"sign-in on the sandbox failed: {answer.status_code}")
        return location


def walkthrough(profile_name: str = "certificate-enroll") -> int:
    """Run the scripted walkthrough; returns a process exit code."""
    from ..sandbox import Sandbox, SandboxConfig, running

    clock = ShiftedClock()
    sandbox = Sandbox(
        SandboxConfig(
            partners={DEMO_PARTNER: DEMO_SECRET},
            users=dict([DEMO_USER]),
            redirect_prefixes=(APP_URL + "/",),
            access_token_ttl=300,
        ),
        clock=clock,
    )
    with running(sandbox) as server_url:
        config = RedtrustConfig(
            server_url=server_url,
            partner=DEMO_PARTNER,
            shared_secret=DEMO_SECRET,
            public_url=APP_URL,
            profile=PROFILES[profile_name],
        )
        manager = SessionManager(config, store=MemoryStore(clock=clock), clock=clock)
        try:
            return _run_steps(sandbox, manager, clock, config)
        finally:
            manager.close()


def _run_steps(
    sandbox: Sandbox, manager: SessionManager, clock: ShiftedClock, config: RedtrustConfig
) -> int:
    profile = config.profile
    print(
        f"Redtrust walkthrough against the sandbox at {config.server_url} "
        f"(profile {profile.name}, partner {config.partner})\n"
    )
    callback = config.redirect_url or APP_URL + config.callback_path
    _step(1, "Login start", f"GET {config.login_path}?next=/certificates")
    start = manager.begin_login(next_url="/certificates", callback_url=callback)
    _result(f"302 to {_redact_url(start.url)}")
    _result(
        f"HMAC-SHA256 of '{config.partner}:<timestamp>'; pending login kept server-side, "
        "its nonce in an HttpOnly cookie"
    )

    _step(2, "User signs in", f"on the sandbox's page as {DEMO_USER[0]} / {DEMO_USER[1]}")
    location = _sign_in_on_sandbox(start.url, *DEMO_USER)
    _result(f"Redtrust redirects the browser to {_redact_url(location)}")

    query = urlsplit(location).query
    _step(3, "Callback", f"{profile.exchange} exchanges tkn for an access JWT + refresh token")
    done = manager.complete_login(query=query, browser_nonces=start.browser_nonces)
    session = manager.get(done.handle)
    if session is None:
        print("    the new session could not be read back")
        return 1
    tokens = session.tokens
    _result(
        f"new session for '{tokens.subject}', access token valid for "
        f"{tokens.expires_in(clock()):.0f} s; the user lands on {done.next_url}"
    )

    _step(4, "Next request", "access token is fresh")
    again = manager.get(done.handle)
    _result("no call to Redtrust" if again and not again.refreshed else "unexpected refresh")

    jump = tokens.expires_in(clock()) - config.refresh_leeway / 2
    clock.offset += jump
    _step(
        5, f"Clock +{jump:.0f} s", f"token expires within the {config.refresh_leeway:.0f} s leeway"
    )
    refreshed = manager.get(done.handle)
    if refreshed is None or not refreshed.refreshed:
        print("    the session was not refreshed as expected")
        return 1
    rotated = refreshed.tokens.refresh_token != tokens.refresh_token
    _result(
        f"refreshed once ({profile.refresh}); new token valid for "
        f"{refreshed.tokens.expires_in(clock()):.0f} s; refresh token "
        f"{'rotated' if rotated else 'kept'}"
    )

    _step(6, "Replayed callback", "the same callback URL again (back button)")
    try:
        manager.complete_login(query=query, browser_nonces=start.browser_nonces)
        _result("accepted (unexpected)")
        return 1
    except RedtrustError as error:
        _result(f"refused with a 4xx: {error} — the user is sent to sign in again")

    _step(7, "Logout", f"POST {config.logout_path}")
    manager.logout(done.handle)
    where = (
        f"and remotely ({profile.logout})"
        if profile.logout
        else "(this profile has no remote logout)"
    )
    _result(f"session deleted locally {where}")

    _step(8, "Next request", "with the old session cookie")
    _result("no session: sign in again" if manager.get(done.handle) is None else "still signed in!")

    _step(9, "Direct login", f"{profile.login} (server to server)")
    direct = manager.client.login(*DEMO_USER)
    _result(f"token for '{direct.subject}' valid for {direct.expires_in(clock()):.0f} s")

    summary = ", ".join(f"{name}={count}" for name, count in sorted(sandbox.calls.items()))
    print(f"\nCalls the sandbox received: {summary}")
    print("Done: every step of the flow ran against a real socket.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``redtrust walkthrough [--profile NAME]``."""
    parser = argparse.ArgumentParser(prog="redtrust walkthrough", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="certificate-enroll")
    args = parser.parse_args(argv)
    return walkthrough(args.profile)
