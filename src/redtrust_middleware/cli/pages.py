"""The demo app's pages, which the example apps share: HTML (escaped; never a token), the
Certificates page (request, list, renew and download each user's certificates).

Framework-neutral: each route is one method of :class:`ExamplePages`, a function of the
request's parts (the signed-in user, the query, the form) returning a complete
:class:`~redtrust_middleware.web.WebResponse`. :mod:`.demoapp` serves them on the core's ASGI
middleware, the examples in a source checkout (Starlette, FastAPI, Django) with their
frameworks; each face only translates requests and responses.

Every POST answers a 303 back to its page (post/redirect/get) carrying a short notice in the
query (``?notice=issued&cert=<thumbprint>``): a code from a fixed list and a public
thumbprint, never anything secret; the page shows the notice only for a certificate the
signed-in user holds, so a crafted link can announce nothing false.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlencode

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .._clock import Clock, system_clock
from ..certificates import (
    DNAttribute,
    IssuedCertificate,
    dn_from_name,
    normalize_dn,
    validate_thumbprint,
)
from ..client import AsyncUserClient, Issuer, UserClient
from ..exceptions import InvalidInputError
from ..web import RedtrustContext, WebResponse

__all__ = [
    "CERTIFICATES",
    "DOWNLOAD",
    "MAX_FORM_BYTES",
    "NOTICES",
    "RENEW",
    "SCRIPT",
    "STYLE",
    "CertificateBook",
    "ExamplePages",
    "FormProblems",
    "describe",
    "dn_from_form",
    "form_nonce",
    "form_thumbprint",
    "hex_groups",
    "hidden_input",
    "page",
    "page_headers",
    "parse_form",
    "pem_filename",
    "readable_time",
    "relative_time",
    "renewal_dn",
    "user_key",
]

#: Where the Certificates page is, where its renew forms post and where a PEM downloads.
CERTIFICATES = "/certificates"
RENEW = "/certificates/renew"
DOWNLOAD = "/certificates/download"
#: The largest form body the ASGI apps read (the fields are short).
MAX_FORM_BYTES = 4096
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:1.5em auto 3em;"
    "padding:0 1em;color:#222}"
    "nav{display:flex;flex-wrap:wrap;gap:.3em 1.2em;align-items:center;padding-bottom:.6em;"
    "border-bottom:1px solid #ddd}nav .sign{margin:0 0 0 auto}"
    "h1{font-size:1.6em;margin:.8em 0 .4em}h2{font-size:1.2em;margin:1.6em 0 .4em}"
    "button{font:inherit;padding:.15em .7em;cursor:pointer}"
    "code{font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "background:#f3f3f3;padding:.05em .35em;border-radius:3px}"
    # Long hex values never break inside a group: one line, scrolling if the screen is narrow.
    ".hex{display:inline-block;max-width:100%;overflow-x:auto;white-space:nowrap;"
    "vertical-align:bottom}"
    "button.copy{font-size:12px;padding:0 .5em;margin-left:.4em;vertical-align:baseline}"
    ".notice,.problem{padding:.5em .8em;border-radius:4px;margin:1em 0}"
    ".notice{background:#e9f6ec;border:1px solid #9fd4ab}"
    ".problem{background:#fdeceb;border:1px solid #f0b4b0}"
    ".field{margin:.6em 0}.field label{display:block;font-weight:600;font-size:14px}"
    ".field input{font:inherit;padding:.2em .4em;width:22em;max-width:100%;"
    "box-sizing:border-box}.field input[size]{width:4em}"
    ".field input[aria-invalid=true]{border:2px solid #c62828}"
    ".field-error{color:#b71c1c;font-size:14px;margin:.15em 0 0}"
    ".hint,.when{color:#666}.hint{font-size:14px}"
    ".cert{border:1px solid #ddd;border-radius:6px;padding:.7em 1em;margin:1em 0}"
    ".cert h3{margin:0 0 .4em;font-size:1.05em}"
    ".cert dl{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em;margin:0}"
    ".cert dt{color:#555}.cert dd{margin:0;min-width:0}"
    ".actions{display:flex;gap:1em;align-items:center;margin-top:.7em}"
    ".actions form{margin:0}"
)

#: The pages' only script: times in the browser's own time zone, and copy buttons for long
#: values. Without it the pages still read well (UTC times, selectable values).
SCRIPT = (
    "document.querySelectorAll('time[datetime]').forEach(function(t){"
    "var d=new Date(t.dateTime);if(isNaN(d))return;t.title=t.textContent;"
    "t.textContent=d.toLocaleString(undefined,{day:'numeric',month:'short',year:'numeric',"
    "hour:'2-digit',minute:'2-digit',timeZoneName:'short'})});"
    "if(navigator.clipboard)document.querySelectorAll('code[data-copy]').forEach(function(c){"
    "var b=document.createElement('button');b.type='button';b.className='copy';"
    "b.textContent='Copy';b.setAttribute('aria-label','Copy '+(c.title||'value'));"
    "b.onclick=function(){navigator.clipboard.writeText(c.dataset.copy).then(function(){"
    "b.textContent='Copied'})};c.after(b)});"
)

#: What each ``?notice=`` code of a redirect says (other codes are ignored).
NOTICES = {
    "issued": "Certificate issued",
    "renewed": "Certificate renewed",
    "signed-out": "You are signed out.",
}


# -- small pieces ----------------------------------------------------------------------------


def hidden_input(name: str, value: str) -> str:
    """A hidden form field, escaped."""
    return f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'


def hex_groups(value: str | int, size: int = 4) -> str:
    """Upper-case hex in groups of ``size`` digits separated by spaces: ``1A2B 3C4D``.

    An integer (a serial number) is written in whole bytes, as ``openssl x509 -serial``
    writes it (``0A1B``, not ``A1B``).
    """
    if isinstance(value, int):
        text = f"{value:X}"
        text = "0" * (len(text) % 2) + text
    else:
        text = value.upper()
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def _hex(value: str | int, label: str, *, copy: bool = True) -> str:
    """A long hex value: grouped, on one line, copied (by the script's button) without spaces."""
    grouped = hex_groups(value)
    plain = grouped.replace(" ", "")
    button = f' data-copy="{plain}"' if copy else ""
    return f'<code class="hex" title="{html.escape(label)}"{button}>{grouped}</code>'


def _readable_subject(issued: IssuedCertificate) -> str:
    """The subject as issued, for reading: ``CN=Alice, O=Example, C=ES`` (RFC 4514 writes it
    backwards, with escapes: that form is the element's title)."""
    parts = [
        f"{attribute.rfc4514_attribute_name}={attribute.value!s}"
        for attribute in issued.certificate.subject
    ]
    return f'<span title="{html.escape(issued.subject)}">{html.escape(", ".join(parts))}</span>'


def relative_time(moment: datetime, now: float) -> str:
    """How far ``moment`` is from ``now`` (UNIX seconds), roughly: ``in 4 min``, ``2 h ago``."""
    seconds = moment.timestamp() - now
    left = abs(seconds)
    if left < 1:
        return "now"
    if left < 60:
        amount = f"{int(left)} s"
    elif left < 3600:
        amount = f"{int(left // 60)} min"
    elif left < 2 * 86400:
        amount = f"{int(left // 3600)} h"
    else:
        days = left / 86400
        if days < 45:
            count, unit = int(days), "day"
        elif days < 320:
            count, unit = round(days / 30.44), "month"
        else:
            count, unit = round(days / 365.25), "year"
        amount = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


#: Month names in English whatever the server's locale (strftime's %b follows it).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def readable_time(moment: datetime) -> str:
    """A ``<time>`` element: the machine-readable instant, read as ``1 Dec 2026, 18:48 UTC``
    (the page's script shows it in the browser's own time zone)."""
    utc = moment.astimezone(UTC)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    text = f"{utc.day} {_MONTHS[utc.month - 1]} {utc.year}, {utc:%H:%M} UTC"
    return f'<time datetime="{iso}">{text}</time>'


def _when(moment: datetime, now: float) -> str:
    return f'{readable_time(moment)} <span class="when">({relative_time(moment, now)})</span>'


def page(
    title: str,
    body: str,
    *,
    logout_path: str,
    context: RedtrustContext | None,
    hidden: str = "",
    notice: str = "",
) -> str:
    """A whole page: navigation, a title, ``notice`` and ``body`` (both already escaped HTML).

    ``context`` is the signed-in user (None: a sign-in link instead of the sign-out button,
    whose form carries the user's sign-out token and comes back to the home page with the
    ``signed-out`` notice). ``hidden`` is HTML for hidden fields every form on the page
    carries (Django's CSRF token).
    """
    after = quote("/?" + urlencode({"notice": "signed-out"}), safe="")
    sign = (
        f'<form class="sign" method="post" action="{html.escape(f"{logout_path}?next={after}")}">'
        f'{hidden}{context.signout_input}<button type="submit">Sign out</button></form>'
        if context is not None
        else '<a class="sign" href="/redtrust/login?next=/me">Sign in with Redtrust</a>'
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        "<nav><a href='/'>Home</a><a href='/me'>Me</a><a href='/certificates'>Certificates</a>"
        f"<a href='/api/me'>/api/me</a>{sign}</nav><main><h1>{html.escape(title)}</h1>"
        f"{notice}{body}</main><script>{SCRIPT}</script></html>"
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


def user_key(context: RedtrustContext) -> str:
    """Whose list: the signed-in user's subject."""
    return context.subject or ""


# -- forms -----------------------------------------------------------------------------------


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


def _query(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, max_num_fields=10)
    except ValueError:
        return {}
    return {name: values[0] for name, values in parsed.items()}


#: The request form's fields: name, label, and the attributes of its input.
_FIELDS = (
    ("cn", "Common name (CN)", 'required maxlength="64"'),
    ("o", "Organization (O)", 'maxlength="64"'),
    ("c", "Country (C)", 'maxlength="2" size="2" pattern="[A-Za-z]{2}" title="two letters"'),
)


class FormProblems(InvalidInputError):
    """The request form was refused: ``problems`` maps each bad field to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        name, problem = next(iter(self.problems.items()))
        super().__init__(name, problem)


def dn_from_form(form: Mapping[str, str]) -> tuple[DNAttribute, ...]:
    """The subject DN of the request form (``cn`` required; ``o`` and ``c`` optional).

    Raises:
        FormProblems: a missing CN or values the client would refuse, every one of them
            named by its field (nothing is sent).
    """
    problems: dict[str, str] = {}
    parts: list[tuple[str, str]] = []
    for name, _label, _attributes in _FIELDS:
        value = form.get(name, "").strip()
        if not value:
            if name == "cn":
                problems[name] = "Required."
            continue
        try:
            normalize_dn([(name, value)])
        except InvalidInputError as error:
            problems[name] = _for_the_field(name, error.problem)
        parts.append((name, value))
    if problems:
        raise FormProblems(problems)
    return normalize_dn(parts)


def _for_the_field(name: str, problem: str) -> str:
    """A DN problem said beside its field: "a cn value must be ..." becomes "Must be ..."."""
    for prefix in (f"a {name} value ", f"{name} "):
        if problem.startswith(prefix):
            problem = problem[len(prefix) :]
            break
    if "bytes in UTF-8" in problem:
        problem += " (accented letters take 2 bytes, some symbols more)"
    return problem[:1].upper() + problem[1:] + "."


def form_nonce(form: Mapping[str, str]) -> str:
    """The form's one-time key (against a double submit).

    Raises:
        InvalidInputError: it is missing or malformed (reload the page).
    """
    nonce = form.get("nonce", "")
    if not _NONCE.fullmatch(nonce):
        raise InvalidInputError("nonce", "the form has expired; send it again")
    return nonce


def form_thumbprint(form: Mapping[str, str]) -> str:
    """The thumbprint the renew form names (validated, upper case)."""
    return validate_thumbprint(form.get("thumbprint", ""))


def renewal_dn(issued: IssuedCertificate) -> tuple[DNAttribute, ...]:
    """A renewal keeps the certificate's subject."""
    return dn_from_name(issued.certificate.subject)


def pem_filename(issued: IssuedCertificate) -> str:
    """The download's file name: the certificate's CN in safe characters, else its serial."""
    names = issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", cn).strip("-.")[:64]
    return f"{stem or hex_groups(issued.serial_number).replace(' ', '')}.pem"


# -- each user's certificates ----------------------------------------------------------------


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
        """The user's certificate of this thumbprint (None: not one of theirs)."""
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


# -- the routes ------------------------------------------------------------------------------


def _html(status: int, text: str, context: RedtrustContext | None) -> WebResponse:
    headers = (("content-type", "text/html; charset=utf-8"), *page_headers(context).items())
    return WebResponse(status=status, headers=headers, body=text.encode())


def _see_other(path: str, **notice: str) -> WebResponse:
    """Post/redirect/get: a reload of the result page does not submit again."""
    location = f"{path}?{urlencode(notice)}" if notice else path
    return WebResponse(status=303, headers=(("location", location),))


class ExamplePages:
    """The example site's routes, once for every face: each method takes what the face read
    from the request and returns the whole answer.

    Args:
        logout_path: where the sign-out button posts (the library's logout route).
        issue: the partner's CA (:meth:`DemoCA.issue <redtrust_middleware.sandbox.DemoCA.issue>`).
        book: each user's certificates (a new, empty one by default).
        clock: the time the pages measure "in 4 min" from.
    """

    def __init__(
        self,
        *,
        logout_path: str,
        issue: Issuer,
        book: CertificateBook | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.logout_path = logout_path
        self.issue = issue
        self.book = book if book is not None else CertificateBook()
        self.clock = clock

    def _page(
        self,
        title: str,
        body: str,
        context: RedtrustContext | None,
        *,
        hidden: str,
        notice: str = "",
        status: int = 200,
    ) -> WebResponse:
        text = page(
            title,
            body,
            logout_path=self.logout_path,
            context=context,
            hidden=hidden,
            notice=notice,
        )
        return _html(status, text, context)

    def home(
        self, context: RedtrustContext | None, query: str = "", hidden: str = ""
    ) -> WebResponse:
        """``/``: public; a greeting, or where to sign in (and "You are signed out")."""
        notice = ""
        if context is None:
            body = "<p>This page is public. <a href='/me'>/me</a> needs a sign-in.</p>"
            if _query(query).get("notice") == "signed-out":
                notice = f'<p class="notice" role="status">{NOTICES["signed-out"]}</p>'
        else:
            who = html.escape(context.subject or "?")
            body = f"<p>Hello {who}. <a href='/me'>Your session</a>.</p>"
        return self._page("Redtrust example", body, context, hidden=hidden, notice=notice)

    def me(self, context: RedtrustContext, hidden: str = "") -> WebResponse:
        """``/me``: who is signed in, and when the access token expires."""
        body = (
            f"<p>Signed in as <strong>{html.escape(context.subject or '?')}</strong>.</p>"
            f"<p>The access token expires {_when(context.expires_at, self.clock())}; it is "
            "refreshed before that, on the next request.</p>"
        )
        return self._page("Me", body, context, hidden=hidden)

    def api_me(self, context: RedtrustContext) -> WebResponse:
        """``/api/me``: :func:`describe` as JSON (times in ISO 8601, for programs)."""
        body = json.dumps(describe(context), ensure_ascii=False, separators=(",", ":"))
        headers = (("content-type", "application/json"), *page_headers(context).items())
        return WebResponse(status=200, headers=headers, body=body.encode())

    # -- Certificates

    def certificates(
        self, context: RedtrustContext, query: str = "", hidden: str = ""
    ) -> WebResponse:
        """``GET /certificates``: the request form, the user's certificates and the notice of
        the action that led here."""
        asked = _query(query)
        notice = ""
        said = NOTICES.get(asked.get("notice", ""))
        if said is not None and asked["notice"] != "signed-out":
            # Only about a certificate the user holds: a crafted link cannot announce an
            # issue or a renewal that did not happen.
            mine = self.book.find(user_key(context), asked.get("cert", "").upper())
            if mine is not None:
                serial = _hex(mine.serial_number, "serial", copy=False)
                notice = f'<p class="notice" role="status">{said}: serial {serial}</p>'
        return self._certificates_page(context, hidden=hidden, notice=notice)

    def refused(
        self,
        context: RedtrustContext,
        error: InvalidInputError,
        form: Mapping[str, str] | None = None,
        hidden: str = "",
    ) -> WebResponse:
        """A 400: the Certificates page again, the request form keeping what was typed
        (``form``) with each problem beside its field, or the problem at the top."""
        fields = error.problems if isinstance(error, FormProblems) else {}
        if fields:
            top = "The certificate was not requested: see the marked fields."
        elif error.field == "nonce":
            top = "The form had expired, so nothing was sent. Check it and send it again."
        else:
            top = f"That did not work: {error}."
        notice = f'<p class="problem" role="alert">{html.escape(top)}</p>'
        return self._certificates_page(
            context, hidden=hidden, notice=notice, values=form or {}, problems=fields, status=400
        )

    def _certificates_page(
        self,
        context: RedtrustContext,
        *,
        hidden: str,
        notice: str = "",
        values: Mapping[str, str] | None = None,
        problems: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> WebResponse:
        body = _request_form(values or {}, problems or {}, hidden) + self._list(
            self.book.certificates(user_key(context)), hidden
        )
        return self._page(
            "Certificates", body, context, hidden=hidden, notice=notice, status=status
        )

    def _list(self, certificates: list[IssuedCertificate], hidden: str) -> str:
        if not certificates:
            return "<h2>Your certificates</h2><p>None yet.</p>"
        now = self.clock()
        cards = []
        for cert in reversed(certificates):  # newest first
            names = cert.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            heading = str(names[0].value) if names else cert.subject
            download = f"{DOWNLOAD}?{urlencode({'cert': cert.thumbprint})}"
            cards.append(
                f'<article class="cert"><h3>{html.escape(heading)}</h3><dl>'
                f"<dt>Subject</dt><dd>{_readable_subject(cert)}</dd>"
                f"<dt>Serial</dt><dd>{_hex(cert.serial_number, 'serial')}</dd>"
                f"<dt>Valid from</dt><dd>{readable_time(cert.not_valid_before)}</dd>"
                f"<dt>Valid until</dt><dd>{_when(cert.not_valid_after, now)}</dd>"
                f"<dt>Thumbprint (SHA-1)</dt><dd>{_hex(cert.thumbprint, 'thumbprint')}</dd></dl>"
                f'<div class="actions"><form method="post" action="{RENEW}">{hidden}'
                f"{hidden_input('thumbprint', cert.thumbprint)}"
                '<button type="submit">Renew</button></form>'
                f'<a href="{html.escape(download)}" download>Download PEM</a></div></article>'
            )
        return "<h2>Your certificates</h2>" + "".join(cards)

    def download(self, context: RedtrustContext, query: str) -> WebResponse:
        """``GET /certificates/download?cert=<thumbprint>``: one of the signed-in user's
        certificates as a PEM file; any other thumbprint is a 404 (nothing said about it)."""
        wanted = _query(query).get("cert", "")
        try:
            found = self.book.find(user_key(context), validate_thumbprint(wanted))
        except InvalidInputError:
            found = None
        if found is None:
            text = "Not one of your certificates. Download it from the Certificates page."
            headers = (("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store"))
            return WebResponse(status=404, headers=headers, body=text.encode())
        return WebResponse(
            status=200,
            headers=(
                ("content-type", "application/x-pem-file"),
                ("content-disposition", f'attachment; filename="{pem_filename(found)}"'),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
            ),
            body=found.certificate.public_bytes(Encoding.PEM),
        )

    # -- the Certificates forms: the same steps for the async and the sync client

    async def request_certificate(
        self, context: RedtrustContext, form: Mapping[str, str], hidden: str = ""
    ) -> WebResponse:
        """``POST /certificates`` with the async client: enroll the subject the form names,
        once per form (a double submit does nothing); a 303 to the page and its notice, or
        the form again (400) with what was typed and why it was refused (nothing sent).

        Raises:
            UpstreamError: Redtrust failed (the face answers 502/503; the form can be sent
                again).
        """
        user = user_key(context)
        try:
            dn = dn_from_form(form)
            with self.book.once(user, "request:" + form_nonce(form)) as fresh:
                if not fresh:
                    return _see_other(CERTIFICATES)
                enrolled = await _async_client(context).enroll(dn, issue=self.issue)
        except InvalidInputError as error:
            return self.refused(context, error, form, hidden)
        self.book.add(user, enrolled.issued)
        return _see_other(CERTIFICATES, notice="issued", cert=enrolled.issued.thumbprint)

    def request_certificate_sync(
        self, context: RedtrustContext, form: Mapping[str, str], hidden: str = ""
    ) -> WebResponse:
        """:meth:`request_certificate` with the sync client (Django's sync views)."""
        user = user_key(context)
        try:
            dn = dn_from_form(form)
            with self.book.once(user, "request:" + form_nonce(form)) as fresh:
                if not fresh:
                    return _see_other(CERTIFICATES)
                enrolled = _sync_client(context).enroll(dn, issue=self.issue)
        except InvalidInputError as error:
            return self.refused(context, error, form, hidden)
        self.book.add(user, enrolled.issued)
        return _see_other(CERTIFICATES, notice="issued", cert=enrolled.issued.thumbprint)

    async def renew_certificate(
        self, context: RedtrustContext, form: Mapping[str, str], hidden: str = ""
    ) -> WebResponse:
        """``POST /certificates/renew`` with the async client: renew one of the user's
        certificates (same subject), once; the new one takes its place in the book.

        Raises:
            UpstreamError: Redtrust failed (the form can be sent again).
        """
        user = user_key(context)
        try:
            thumbprint = form_thumbprint(form)
            with self.book.once(user, "renew:" + thumbprint) as fresh:
                if not fresh:
                    return _see_other(CERTIFICATES)
                dn = renewal_dn(self._held(user, thumbprint))
                renewed = await _async_client(context).renew(thumbprint, dn, issue=self.issue)
        except InvalidInputError as error:
            return self.refused(context, error, hidden=hidden)
        self.book.add(user, renewed.issued, replaces=thumbprint)
        return _see_other(CERTIFICATES, notice="renewed", cert=renewed.issued.thumbprint)

    def renew_certificate_sync(
        self, context: RedtrustContext, form: Mapping[str, str], hidden: str = ""
    ) -> WebResponse:
        """:meth:`renew_certificate` with the sync client (Django's sync views)."""
        user = user_key(context)
        try:
            thumbprint = form_thumbprint(form)
            with self.book.once(user, "renew:" + thumbprint) as fresh:
                if not fresh:
                    return _see_other(CERTIFICATES)
                dn = renewal_dn(self._held(user, thumbprint))
                renewed = _sync_client(context).renew(thumbprint, dn, issue=self.issue)
        except InvalidInputError as error:
            return self.refused(context, error, hidden=hidden)
        self.book.add(user, renewed.issued, replaces=thumbprint)
        return _see_other(CERTIFICATES, notice="renewed", cert=renewed.issued.thumbprint)

    def _held(self, user: str, thumbprint: str) -> IssuedCertificate:
        """The user's certificate to renew (raising releases the claim: nothing was sent)."""
        old = self.book.find(user, thumbprint)
        if old is None:
            raise InvalidInputError("thumbprint", "not one of your certificates")
        return old


def _request_form(values: Mapping[str, str], problems: Mapping[str, str], hidden: str) -> str:
    """The request form, keeping ``values`` (escaped) with each problem beside its field."""
    nonce = hidden_input("nonce", secrets.token_urlsafe(16))
    fields = []
    for name, label, attributes in _FIELDS:
        value = html.escape(values.get(name, ""))
        problem = problems.get(name)
        marks = ""
        after = ""
        if problem is not None:
            marks = f' aria-invalid="true" aria-describedby="{name}-error"'
            after = f'<p class="field-error" id="{name}-error">{html.escape(problem)}</p>'
        fields.append(
            f'<div class="field"><label for="{name}">{label}</label>'
            f'<input id="{name}" name="{name}" value="{value}" {attributes}{marks}>{after}</div>'
        )
    return (
        f'<h2>Request a certificate</h2><form method="post" action="{CERTIFICATES}">'
        f'{hidden}{nonce}{"".join(fields)}<button type="submit">Request</button></form>'
        '<p class="hint">Redtrust generates the key pair on its server; the demo CA signs '
        "the request.</p>"
    )


def _async_client(context: RedtrustContext) -> AsyncUserClient:
    if not isinstance(context.client, AsyncUserClient):
        raise TypeError("the context of an async app carries an AsyncUserClient")
    return context.client


def _sync_client(context: RedtrustContext) -> UserClient:
    if not isinstance(context.client, UserClient):
        raise TypeError("the context of a sync view carries a UserClient")
    return context.client
