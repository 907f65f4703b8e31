"""Proof that a sign-out POST came from this site (docs/security.md, rows 12, 46 and 47).

Pure functions over a request's headers and body: :class:`~.web.Gate` asks them before it
ends a session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from .login import is_handle

__all__ = ["MAX_FORM_BYTES", "SIGNOUT_FIELD", "same_origin", "signout_proven", "signout_token"]

#: The sign-out form's hidden field, carrying :attr:`~.web.RedtrustContext.signout_token`.
SIGNOUT_FIELD = "redtrust_signout"
#: The most of a sign-out POST's body that is read (the form holds one short field).
MAX_FORM_BYTES = 4096


def signout_token(handle: str) -> str:
    """The token a sign-out form carries for the session ``handle``.

    A one-way digest of the handle: only the browser holding the session (its HttpOnly
    cookie) and the server can make it, it reveals nothing of the handle, and it needs no
    key shared between processes. It proves a sign-out came from this site's own form when
    the browser sends no ``Origin`` (a page with ``Referrer-Policy: no-referrer`` makes
    browsers send ``Origin: null``).
    """
    digest = hashlib.sha256(b"redtrust-signout\x00" + handle.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _form_field(headers: Mapping[str, str], body: bytes, name: str) -> str | None:
    """The one value of ``name`` in an urlencoded form body; None if absent, repeated or
    the body is not such a form (or too large)."""
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get(name, [])
    return values[0] if len(values) == 1 else None


def same_origin(sent: str, origin: tuple[str, str]) -> bool:
    """True when the URL or origin ``sent`` (an ``Origin`` or ``Referer``) is ``origin``
    (scheme and netloc of the configured ``public_url``)."""
    parts = urlsplit(sent)
    try:
        port = parts.port
    except ValueError:
        return False
    default = {"https": 443, "http": 80}.get(parts.scheme)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # IPv6, spelled as in the configured public_url
    if port is not None and port != default:
        netloc = f"{netloc}:{port}"
    return (parts.scheme, netloc) == origin


def signout_proven(
    headers: Mapping[str, str], body: bytes, handle: str | None, origin: tuple[str, str]
) -> bool:
    """A sign-out POST came from this site: refused from another site whatever it carries;
    otherwise proven by the session's token, a same-origin ``Origin`` or ``Referer``, or
    ``Sec-Fetch-Site: same-origin``. With none of them (a bare POST) it is refused."""
    sent_origin = headers.get("origin")
    if sent_origin and sent_origin != "null" and not same_origin(sent_origin, origin):
        return False
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    sent = _form_field(headers, body, SIGNOUT_FIELD)
    if (
        sent
        and handle
        and is_handle(handle)
        and hmac.compare_digest(sent.encode(), signout_token(handle).encode())
    ):
        return True
    if sent_origin and sent_origin != "null":
        return True  # same origin, checked above
    if headers.get("sec-fetch-site") == "same-origin":
        return True
    referer = headers.get("referer")
    return bool(referer) and same_origin(referer or "", origin)
