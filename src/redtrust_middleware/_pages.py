"""The library's own answers, rendered: small HTML pages for browsers, JSON for API callers.

Pure functions from what happened to a complete :class:`WebResponse`; :class:`~.web.Gate`
decides which answer a request gets, and whether it is a page or JSON.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import CallbackError, RedtrustError, StoreError, TransportError

__all__ = [
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


def page(
    status: int,
    title: str,
    message: str,
    link: tuple[str, str] | None = None,
    form: str = "",
    extra: Sequence[tuple[str, str]] = (),
) -> WebResponse:
    """A small self-contained HTML page (no scripts, no outside resources, not framable)."""
    action = ""
    if link is not None:
        action = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;"
        "padding:0 1em;color:#222}h1{font-size:1.4em}</style>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{action}{form}</html>"
    )
    return WebResponse(status=status, headers=(*_PAGE_HEADERS, *extra), body=body.encode())


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


def not_allowed(allow: str, message: str) -> WebResponse:
    """405, naming the methods the route takes."""
    return page(405, "Method not allowed", message, extra=[("allow", allow)])


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


def unavailable(error: RedtrustError, *, as_json: bool) -> WebResponse:
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
        title = "Sessions are unavailable"
        message = "This site could not reach its session store just now; your session is kept."
    else:
        title = "Sign-in service unavailable"
        message = "Redtrust could not be reached just now; your session is kept."
    return page(status, title, f"{message} Please try again in a moment.", extra=extra)


def sign_in_not_completed(error: RedtrustError, *, as_json: bool, login_url: str) -> WebResponse:
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
    who = "This site could not save" if store else "Redtrust could not complete"
    return page(
        status,
        "Sign-in not completed",
        f"{who} the sign-in just now. Please sign in again.",
        (login_url, "Sign in again"),
    )


def callback_refused(
    error: CallbackError, *, as_json: bool, login_url: str, hint: str = ""
) -> WebResponse:
    """A bad callback (400): it changed nothing, the user signs in again; ``hint`` says
    what likely caused it and what to change (the browser's host against ``public_url``)."""
    if as_json:
        payload = {"error": error.code.lower(), "login_url": login_url}
        if hint:
            payload["hint"] = hint
        return _json(400, payload, [("referrer-policy", "no-referrer")])
    why = f" {hint}" if hint else ""
    return page(
        400,
        "Sign-in could not be completed",
        f"{error.reason[:1].upper()}{error.reason[1:]}.{why} Please sign in again.",
        (login_url, "Sign in again"),
    )


def signout_confirmation(logout_path: str, field: str, token: str) -> WebResponse:
    """The sign-out page: a form that POSTs ``token`` as ``field`` (none without a session)."""
    hidden = f'<input type=hidden name={field} value="{token}">' if token else ""
    form = (
        f'<form method=post action="{html.escape(logout_path)}">'
        f"{hidden}<button type=submit>Sign out</button></form>"
    )
    return page(200, "Sign out?", "Confirm to end your session.", form=form)


def signout_refused(logout_path: str) -> WebResponse:
    """403: a sign-out POST without proof it came from this site; the session is kept."""
    return page(
        403,
        "Sign-out refused",
        "This request did not come from this site's sign-out form, so your "
        "session is kept. To sign out, use the button on the sign-out page.",
        (logout_path, "Go to the sign-out page"),
    )
