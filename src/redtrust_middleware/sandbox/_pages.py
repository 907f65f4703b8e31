"""The sandbox's two HTML pages: the sign-in form and the error page.

Every value placed in a page goes through :func:`html.escape` (quotes included).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ._state import LoginAttempt

__all__ = ["LOGIN_FORM_PATH", "PAGE_TITLE", "error_page", "login_page"]

#: Where the sign-in form posts to.
LOGIN_FORM_PATH = "/authclient/auth/login"
#: The sign-in page's title.
PAGE_TITLE = "Redtrust sandbox \u2014 sign in"

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 1rem}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #b8bfcc;border-radius:4px}
button{margin-top:1.25rem;width:100%;padding:.6rem;border:0;border-radius:4px;
background:#b3002d;color:#fff;font-weight:600;cursor:pointer}
.error{background:#fde8ec;color:#8a0022;padding:.5rem .75rem;border-radius:4px}
.note{color:#5b6475;font-size:.85rem;word-break:break-all}
code{font-weight:600}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body><main>{body}</main></body></html>\n"
    )


def login_page(attempt: LoginAttempt, *, error: str | None = None, username: str = "") -> str:
    """The sign-in form for ``attempt``; ``error`` is shown above it after a failed try."""
    domain = f" in domain <strong>{escape(attempt.domain)}</strong>" if attempt.domain else ""
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>{escape(PAGE_TITLE)}</h1>"
        f"<p>Partner <strong>{escape(attempt.partner)}</strong> asks you to sign in{domain}.</p>"
        f"{alert}"
        f'<form method="post" action="{LOGIN_FORM_PATH}">'
        f'<input type="hidden" name="attempt" value="{escape(attempt.attempt_id)}">'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
        f'<p class="note">Afterwards you return to {escape(attempt.redirect_url)}</p>'
        '<p class="note">This is a local test server standing in for Redtrust.</p>'
    )
    return _document(PAGE_TITLE, body)


def error_page(status: int, code: str, message: str, notes: Sequence[str] = ()) -> str:
    """A small page showing the ``errorCode`` and message of a refused browser request, and
    any ``notes`` (one paragraph each)."""
    extra = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    body = (
        f"<h1>Redtrust sandbox \u2014 error {status}</h1>"
        f'<p class="error" role="alert">{escape(message)}</p>'
        f"<p>errorCode: <code>{escape(code)}</code></p>{extra}"
        '<p class="note">Go back to the application and start signing in again.</p>'
    )
    return _document(f"Redtrust sandbox \u2014 error {status}", body)
