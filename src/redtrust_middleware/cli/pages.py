"""The demo app's pages, which the example apps share: HTML (escaped; never a token), the
Certificates form and each user's certificates.

Framework-neutral: :mod:`.demoapp` serves these pages on the core's ASGI middleware, the
examples in a source checkout (Starlette, FastAPI, Django) with their frameworks.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import parse_qs

from ..certificates import (
    DNAttribute,
    IssuedCertificate,
    dn_from_name,
    normalize_dn,
    validate_thumbprint,
)
from ..client import AsyncIssuer, AsyncUserClient
from ..exceptions import InvalidInputError
from ..web import RedtrustContext

__all__ = [
    "CERTIFICATES",
    "MAX_FORM_BYTES",
    "RENEW",
    "STYLE",
    "CertificateBook",
    "certificates_body",
    "describe",
    "dn_from_form",
    "error_body",
    "form_nonce",
    "form_thumbprint",
    "hidden_input",
    "home_body",
    "me_body",
    "page",
    "page_headers",
    "parse_form",
    "renew_certificate",
    "renewal_dn",
    "request_certificate",
    "user_key",
]

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;"
    "color:#222}nav a{margin-right:1em}code{background:#f3f3f3;padding:0 .3em}"
    "button{font:inherit}table{border-collapse:collapse;font-size:14px}"
    "td,th{border:1px solid #ddd;padding:.2em .4em;text-align:left;vertical-align:top}"
    "td code{word-break:break-all}label{display:block;margin:.3em 0}"
)


def page(
    title: str,
    body: str,
    *,
    logout_path: str,
    context: RedtrustContext | None,
    hidden: str = "",
) -> str:
    """A whole page: navigation, a title and ``body`` (already escaped HTML).

    ``context`` is the signed-in user (None: a sign-in link instead of the sign-out button,
    whose form carries the user's sign-out token). ``hidden`` is HTML for hidden fields every
    form on the page carries (Django's CSRF token).
    """
    sign = (
        f'<form method="post" action="{html.escape(logout_path)}" style="display:inline">'
        f'{hidden}{context.signout_input}<button type="submit">Sign out</button></form>'
        if context is not None
        else '<a href="/redtrust/login?next=/me">Sign in with Redtrust</a>'
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><nav><a href='/'>Home</a><a href='/me'>Me</a>"
        "<a href='/certificates'>Certificates</a>"
        f"<a href='/api/me'>/api/me</a>{sign}</nav><h1>{html.escape(title)}</h1>{body}</html>"
    )


def page_headers(context: RedtrustContext | None) -> dict[str, str]:
    """The headers of a response: one made for a signed-in user is never stored
    (``Cache-Control: no-store``), so that after sign-out the back button cannot bring it
    back from the browser's back/forward cache or HTTP cache; it asks the server again."""
    return {"cache-control": "no-store"} if context is not None else {}


def describe(context: RedtrustContext) -> dict[str, str | None]:
    """Who is signed in and until when: safe to show (never the token itself)."""
    return {
        "user": context.subject,
        "token_expires_at": context.expires_at.isoformat(),
        "refreshed_now": str(context.refreshed).lower(),
    }


def home_body(context: RedtrustContext | None) -> str:
    """The public home page's content: a greeting, or where to sign in."""
    if context is None:
        return "<p>This page is public. <a href='/me'>/me</a> needs a sign-in.</p>"
    return f"<p>Hello {html.escape(context.subject or '?')}. <a href='/me'>Your session</a>.</p>"


def me_body(context: RedtrustContext) -> str:
    """The /me page's content."""
    info = describe(context)
    return (
        f"<p>Signed in as <strong>{html.escape(info['user'] or '?')}</strong>.</p>"
        f"<p>The access token expires at <code>{html.escape(info['token_expires_at'] or '')}"
        "</code>; it is refreshed before that, on the next request.</p>"
    )


# -- the Certificates page -----------------------------------------------------------------

#: Where the Certificates page is, and where its renew forms post.
CERTIFICATES = "/certificates"
RENEW = "/certificates/renew"
#: The largest form body the ASGI apps read (the fields are short).
MAX_FORM_BYTES = 4096
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")


def hidden_input(name: str, value: str) -> str:
    """A hidden form field, escaped."""
    return f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body: the first value of each field.

    Raises:
        InvalidInputError: the body is too large, not UTF-8 or has too many fields.
    """
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError("form", f"must be at most {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=10, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("form", "must be a small UTF-8 urlencoded form") from None
    return {name: values[0] for name, values in parsed.items()}


def dn_from_form(form: Mapping[str, str]) -> tuple[DNAttribute, ...]:
    """The subject DN of the request form (``cn`` required; ``o`` and ``c`` optional).

    Raises:
        InvalidInputError: a missing CN or a value the client would refuse (nothing is sent).
    """
    cn = form.get("cn", "").strip()
    if not cn:
        raise InvalidInputError("cn", "the common name (CN) is required")
    parts = [("cn", cn)]
    for name in ("o", "c"):
        value = form.get(name, "").strip()
        if value:
            parts.append((name, value))
    return normalize_dn(parts)


def form_nonce(form: Mapping[str, str]) -> str:
    """The form's one-time key (against a double submit).

    Raises:
        InvalidInputError: it is missing or malformed (reload the page).
    """
    nonce = form.get("nonce", "")
    if not _NONCE.fullmatch(nonce):
        raise InvalidInputError("nonce", "the form has expired; reload the page")
    return nonce


def form_thumbprint(form: Mapping[str, str]) -> str:
    """The thumbprint the renew form names (validated, upper case)."""
    return validate_thumbprint(form.get("thumbprint", ""))


def renewal_dn(issued: IssuedCertificate) -> tuple[DNAttribute, ...]:
    """A renewal keeps the certificate's subject."""
    return dn_from_name(issued.certificate.subject)


class CertificateBook:
    """Each user's issued certificates, kept in the app process (bounded, thread-safe).

    The published RA API has no call that lists a user's certificates, so the app keeps what
    ``enroll``/``renew`` returned. A real app would keep it in its database. The least recently
    used users are forgotten beyond ``max_users``; a user keeps at most ``max_per_user``
    certificates (the oldest dropped from the list, not revoked).
    """

    def __init__(
        self, *, max_users: int = 1000, max_per_user: int = 20, max_claims: int = 50
    ) -> None:
        self._lock = threading.Lock()
        self._users: OrderedDict[str, list[IssuedCertificate]] = OrderedDict()
        self._claims: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._max_users = max_users
        self._max_per_user = max_per_user
        self._max_claims = max_claims

    def certificates(self, user: str) -> list[IssuedCertificate]:
        """The user's certificates, oldest first."""
        with self._lock:
            return list(self._users.get(user, ()))

    def find(self, user: str, thumbprint: str) -> IssuedCertificate | None:
        with self._lock:
            return next((c for c in self._users.get(user, ()) if c.thumbprint == thumbprint), None)

    def add(self, user: str, issued: IssuedCertificate, *, replaces: str | None = None) -> None:
        """Record a new certificate; a renewal's takes the place of the one it replaced."""
        with self._lock:
            mine = self._users.pop(user, [])
            index = next((i for i, c in enumerate(mine) if c.thumbprint == replaces), None)
            if index is None:
                mine.append(issued)
            else:
                mine[index] = issued
            self._users[user] = mine[-self._max_per_user :]
            while len(self._users) > self._max_users:
                self._users.popitem(last=False)

    @contextmanager
    def once(self, user: str, key: str) -> Iterator[bool]:
        """Claim ``key`` (a form's nonce, a thumbprint being renewed) for one submission.

        Yields False when it was already claimed (a double submit: do nothing). The claim is
        kept on success and released if the body raises, so the user can try again.
        """
        with self._lock:
            claims = self._claims.pop(user, OrderedDict())
            self._claims[user] = claims
            while len(self._claims) > self._max_users:
                self._claims.popitem(last=False)
            fresh = key not in claims
            if fresh:
                claims[key] = None
                while len(claims) > self._max_claims:
                    claims.popitem(last=False)
        if not fresh:
            yield False
            return
        try:
            yield True
        except BaseException:
            with self._lock:
                self._claims.get(user, OrderedDict()).pop(key, None)
            raise


def user_key(context: RedtrustContext) -> str:
    """Whose list: the signed-in user's subject."""
    return context.subject or ""


def certificates_body(
    certificates: list[IssuedCertificate], *, action: str, renew_action: str, hidden: str = ""
) -> str:
    """The Certificates page: a request form and the user's certificates, each renewable."""
    nonce = hidden_input("nonce", secrets.token_urlsafe(16))
    form = (
        f'<h2>Request a certificate</h2><form method="post" action="{html.escape(action)}">'
        f"{hidden}{nonce}"
        '<label>Common name (CN) <input name="cn" required maxlength="64"></label>'
        '<label>Organization (O) <input name="o" maxlength="64"></label>'
        '<label>Country (C) <input name="c" maxlength="2" size="2" pattern="[A-Za-z]{2}">'
        '</label><button type="submit">Request</button></form>'
        "<p>Redtrust generates the key pair on its server; the demo CA signs the request.</p>"
    )
    if not certificates:
        return form + "<h2>Your certificates</h2><p>None yet.</p>"
    rows = []
    for cert in reversed(certificates):  # newest first
        renew = (
            f'<form method="post" action="{html.escape(renew_action)}">{hidden}'
            f"{hidden_input('thumbprint', cert.thumbprint)}"
            '<button type="submit">Renew</button></form>'
        )
        rows.append(
            f"<tr><td>{html.escape(cert.subject)}</td>"
            f"<td><code>{cert.serial_number:X}</code></td>"
            f"<td>{cert.not_valid_before:%Y-%m-%d %H:%M} &ndash; "
            f"{cert.not_valid_after:%Y-%m-%d %H:%M} UTC</td>"
            f"<td><code>{html.escape(cert.thumbprint)}</code></td><td>{renew}</td></tr>"
        )
    return (
        form + "<h2>Your certificates</h2><table><tr><th>Subject</th><th>Serial</th>"
        "<th>Valid</th><th>Thumbprint (SHA-1)</th><th></th></tr>" + "".join(rows) + "</table>"
    )


def error_body(error: InvalidInputError, back: str) -> str:
    """A 400 page's content: the (escaped) problem and a way back."""
    return (
        f"<p>That did not work: {html.escape(str(error))}.</p>"
        f"<p><a href='{html.escape(back)}'>Back</a></p>"
    )


def _async_client(context: RedtrustContext) -> AsyncUserClient:
    if not isinstance(context.client, AsyncUserClient):
        raise TypeError("the context of an async app carries an AsyncUserClient")
    return context.client


async def request_certificate(
    book: CertificateBook, context: RedtrustContext, form: Mapping[str, str], issue: AsyncIssuer
) -> None:
    """Act on the Certificates request form: enroll the subject it names, once per form (a
    double submit does nothing), and keep the certificate in ``book``.

    Raises:
        InvalidInputError: the form is incomplete or expired (nothing is sent).
        UpstreamError: Redtrust failed (the form can be sent again).
    """
    user = user_key(context)
    dn = dn_from_form(form)
    with book.once(user, "request:" + form_nonce(form)) as fresh:
        if fresh:
            enrolled = await _async_client(context).enroll(dn, issue=issue)
            book.add(user, enrolled.issued)


async def renew_certificate(
    book: CertificateBook, context: RedtrustContext, form: Mapping[str, str], issue: AsyncIssuer
) -> None:
    """Act on a renew form: renew one of the user's certificates (same subject), once; the
    new one takes its place in ``book``.

    Raises:
        InvalidInputError: the form names no certificate of this user (nothing is sent).
        UpstreamError: Redtrust failed (the form can be sent again).
    """
    user = user_key(context)
    thumbprint = form_thumbprint(form)
    with book.once(user, "renew:" + thumbprint) as fresh:
        if fresh:
            old = book.find(user, thumbprint)
            if old is None:
                raise InvalidInputError("thumbprint", "not one of your certificates")
            renewed = await _async_client(context).renew(thumbprint, renewal_dn(old), issue=issue)
            book.add(user, renewed.issued, replaces=thumbprint)
