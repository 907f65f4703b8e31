"""The library's own answers, rendered: small HTML pages for browsers, JSON for API callers.

Pure functions from what happened to a complete :class:`WebResponse`; :class:`~.web.Gate`
decides which answer a request gets, and whether it is a page or JSON.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .exceptions import CallbackError, RedtrustError, StoreError, TransportError
from .pages import N_, Markup, Page, RenderedPage, Text

__all__ = [
    "REASONS",
    "Render",
    "WebResponse",
    "callback_refused",
    "not_allowed",
    "page",
    "redirect",
    "sign_in_not_completed",
    "signout_confirmation",
    "signout_refused",
    "unauthenticated",
    "unavailable",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebResponse:
    """A complete answer from one of the library's routes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


_PAGE_HEADERS = (
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
)


#: What renders a page for the request at hand (a :class:`~.pages.PageRenderer` bound to
#: its headers).
Render: TypeAlias = Callable[[Page], RenderedPage]

#: Why a callback was refused (:attr:`CallbackError.reason`), as the pages translate it.
#: ``tests/core/test_pages.py`` checks that every reason the library raises is here.
REASONS: tuple[Text, ...] = (
    N_("'tkn' appears more than once"),
    N_("'state' appears more than once"),
    N_("'tkn' is missing"),
    N_("'state' is missing"),
    N_("'tkn' is empty"),
    N_("'state' is empty"),
    N_("the callback query is too long"),
    N_("the callback query is malformed"),
    N_("unexpected parameter 'tkn' variant"),
    N_("unexpected parameter 'state' variant"),
    N_("'tkn' is too long"),
    N_("'tkn' has characters a token cannot have"),
    N_("'state' is malformed"),
    N_("no sign-in was started in this browser, or it expired"),
    N_("this sign-in was not started in this browser"),
    N_("this sign-in expired or was already used"),
    N_("Redtrust did not accept this sign-in"),
)
_NOT_ALLOWED = {
    "login": N_("Use a link to sign in."),
    "callback": N_("Sign-in callbacks are links."),
    "logout": N_("Sign out with the form."),
}


def page(
    render: Render,
    status: int,
    content: Page,
    extra: Sequence[tuple[str, str]] = (),
) -> WebResponse:
    """A small self-contained HTML page (no scripts, no outside resources, not framable),
    in the language ``render`` chose (``Content-Language``, and ``Vary`` on what chose it)."""
    rendered = render(content)
    headers = [*_PAGE_HEADERS, ("content-language", rendered.language)]
    if rendered.vary:
        headers.append(("vary", ", ".join(rendered.vary)))
    return WebResponse(
        status=status, headers=(*headers, *extra), body=rendered.body.encode("utf-8")
    )


def _json(
    status: int, payload: Mapping[str, Any], extra: Sequence[tuple[str, str]] = ()
) -> WebResponse:
    headers = (("content-type", "application/json"), ("cache-control", "no-store"), *extra)
    return WebResponse(status=status, headers=headers, body=json.dumps(payload).encode())


def redirect(status: int, location: str, *extra: tuple[str, str]) -> WebResponse:
    """A redirect that no cache keeps."""
    return WebResponse(
        status=status, headers=(("location", location), ("cache-control", "no-store"), *extra)
    )


def not_allowed(
    render: Render, allow: str, route: Literal["login", "callback", "logout"]
) -> WebResponse:
    """405, naming the methods the route takes."""
    return page(
        render,
        405,
        Page(
            name="not_allowed",
            title=N_("Method not allowed"),
            message=_NOT_ALLOWED[route],
            values={"allow": allow},
        ),
        extra=[("allow", allow)],
    )


def unauthenticated(*, as_json: bool, login_url: str, challenge: str) -> WebResponse:
    """A protected endpoint without a session: a 302 to sign in, or 401 JSON whose
    ``WWW-Authenticate`` is ``challenge`` (:meth:`Gate.challenge`)."""
    if as_json:
        return _json(
            401,
            {"error": "not_authenticated", "login_url": login_url},
            [("www-authenticate", challenge)],
        )
    return redirect(302, login_url)


def unavailable(error: RedtrustError, *, as_json: bool, render: Render) -> WebResponse:
    """A clear 502/503, never a traceback or a token.

    A store failure (``store_unavailable``) is told apart from Redtrust failing
    (``redtrust_unavailable``): the operator looks in a different place.
    """
    status = error.http_status if error.http_status in (502, 503) else 503
    retry = str(getattr(error, "retry_after", 5))
    extra = (("retry-after", retry),) if status == 503 else ()
    store = isinstance(error, StoreError)
    if as_json:
        code = "store_unavailable" if store else "redtrust_unavailable"
        return _json(status, {"error": code}, extra)
    if store:
        title = N_("Sessions are unavailable")
        message = N_(
            "This site could not reach its session store just now; your session is kept. "
            "Please try again in a moment."
        )
    else:
        title = N_("Sign-in service unavailable")
        message = N_(
            "Redtrust could not be reached just now; your session is kept. "
            "Please try again in a moment."
        )
    return page(render, status, Page(name="unavailable", title=title, message=message), extra)


def sign_in_not_completed(
    error: RedtrustError, *, as_json: bool, login_url: str, render: Render
) -> WebResponse:
    """Redtrust or the store failed mid-sign-in: the pending login is used, start again."""
    status = 503 if isinstance(error, StoreError | TransportError) else 502
    store = isinstance(error, StoreError)
    if as_json:
        return _json(
            status,
            {
                "error": "sign_in_not_completed",
                "cause": "store_unavailable" if store else "redtrust_unavailable",
                "login_url": login_url,
            },
        )
    message = (
        N_("This site could not save the sign-in just now. Please sign in again.")
        if store
        else N_("Redtrust could not complete the sign-in just now. Please sign in again.")
    )
    return page(
        render,
        status,
        Page(
            name="sign_in_not_completed",
            title=N_("Sign-in not completed"),
            message=message,
            values={"login_url": login_url, "link_text": N_("Sign in again")},
        ),
    )


def callback_refused(
    error: CallbackError,
    *,
    as_json: bool,
    login_url: str,
    render: Render,
    hint: Text | None = None,
) -> WebResponse:
    """A bad callback (400): it changed nothing, the user signs in again; ``hint`` says
    what likely caused it and what to change (the browser's host against ``public_url``)."""
    if as_json:
        payload = {"error": error.code.lower(), "login_url": login_url}
        if hint is not None:
            payload["hint"] = str(hint)
        return _json(400, payload, [("referrer-policy", "no-referrer")])
    reason = _Capitalised(error.reason)
    message = (
        N_("%(reason)s. %(hint)s Please sign in again.", reason=reason, hint=hint)
        if hint is not None
        else N_("%(reason)s. Please sign in again.", reason=reason)
    )
    return page(
        render,
        400,
        Page(
            name="callback_refused",
            title=N_("Sign-in could not be completed"),
            message=message,
            values={
                "reason": reason,
                "hint": hint if hint is not None else "",
                "login_url": login_url,
                "link_text": N_("Sign in again"),
            },
        ),
    )


class _Capitalised(Text):
    """A reason as a sentence's start: translated, then its first letter upper-cased."""

    __slots__ = ()

    def __init__(self, msgid: str) -> None:
        super().__init__(msgid)

    def translate(self, gettext: Callable[[str], str]) -> str:
        text = gettext(self.msgid)
        return f"{text[:1].upper()}{text[1:]}"


def signout_confirmation(
    logout_path: str, field: str, token: str, *, render: Render
) -> WebResponse:
    """The sign-out page: a form that POSTs ``token`` as ``field`` (none without a session)."""
    hidden = (
        f'<input type=hidden name={html.escape(field)} value="{html.escape(token)}">'
        if token
        else ""
    )
    return page(
        render,
        200,
        Page(
            name="signout_confirmation",
            title=N_("Sign out?"),
            message=N_("Confirm to end your session."),
            values={
                "logout_path": logout_path,
                "signout_input": Markup(hidden),
                "button": N_("Sign out"),
            },
        ),
    )


def signout_refused(logout_path: str, *, render: Render) -> WebResponse:
    """403: a sign-out POST without proof it came from this site; the session is kept."""
    return page(
        render,
        403,
        Page(
            name="signout_refused",
            title=N_("Sign-out refused"),
            message=N_(
                "This request did not come from this site's sign-out form, so your "
                "session is kept. To sign out, use the button on the sign-out page."
            ),
            values={"logout_path": logout_path, "link_text": N_("Go to the sign-out page")},
        ),
    )
