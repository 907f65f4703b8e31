"""Building answers and reading requests: the one envelope helper and the parsing helpers.

Every parser raises :class:`Reject` (a 400 ``INVALID_REQUEST`` naming the field) on bad input,
so a handler never meets a ``UnicodeDecodeError``, a ``KeyError`` or a wrong type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx2

from ._errors import INVALID_BEARER, MISSING_BEARER, OK, bad_request, unauthorized

__all__ = [
    "MAX_FIELD_CHARS",
    "bearer_token",
    "envelope",
    "form_params",
    "html_response",
    "json_object",
    "query_params",
    "raw_json",
    "single_header",
    "text_field",
]

#: Longest accepted string field, parameter or token (characters).
MAX_FIELD_CHARS = 4096
_MAX_PARAMS = 32
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/=-]+)", re.IGNORECASE)
# scheme://host[:port] of a registered redirect, safe to place in a CSP header.
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def envelope(
    status: int,
    code: str,
    message: str,
    data: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """The Redtrust JSON envelope: ``{"message", "messageType", "errorCode", "data"}``."""
    body = {
        "message": message,
        "messageType": "SUCCESS" if code == OK else "ERROR",
        "errorCode": code,
        "data": dict(data or {}),
    }
    return raw_json(body, status=status, headers=headers)


def raw_json(
    body: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> httpx2.Response:
    """A JSON answer that is not enveloped (the JWKS) or already is."""
    content = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return httpx2.Response(
        status,
        headers={"Content-Type": "application/json", **_NO_STORE, **(headers or {})},
        content=content,
    )


def html_response(
    status: int,
    page: str,
    *,
    form_origin: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """An HTML page with the anti-framing, no-store and strict CSP headers.

    ``form_origin`` (scheme://host[:port] of the redirect target) joins ``form-action``:
    browsers apply ``form-action`` to the redirect that follows a form post, so the login form
    could not hand the user back to the partner without it.
    """
    form_action = "'self'"
    if form_origin is not None and _ORIGIN.fullmatch(form_origin):
        form_action += f" {form_origin}"
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return httpx2.Response(
        status,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            **_NO_STORE,
            **(headers or {}),
        },
        content=page.encode("utf-8"),
    )


def _pairs(text: bytes, where: str) -> dict[str, str]:
    """Decode ``a=1&b=2`` (query string or form body): strict UTF-8, every name at most once."""
    try:
        pairs = parse_qsl(
            text.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_PARAMS,
        )
    except UnicodeDecodeError:
        raise bad_request(f"the {where} is not valid percent-encoded UTF-8") from None
    except ValueError:
        raise bad_request(f"the {where} has too many parameters") from None
    result: dict[str, str] = {}
    for name, value in pairs:
        if name in result:
            raise bad_request(f"parameter '{_shown(name)}' must appear at most once in the {where}")
        if len(value) > MAX_FIELD_CHARS:
            raise bad_request(f"parameter '{_shown(name)}' is too long")
        result[name] = value
    return result


def _shown(name: str) -> str:
    """A parameter name safe to put in a message: printable ASCII, truncated."""
    return "".join(c if " " < c < "\x7f" else "?" for c in name[:40])


def query_params(request: httpx2.Request) -> dict[str, str]:
    """The query string's parameters; 400 on bad encoding or a duplicated name."""
    return _pairs(request.url.query, "query string")


def form_params(request: httpx2.Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body's fields; 400 on anything else."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise bad_request("Content-Type must be application/x-www-form-urlencoded")
    return _pairs(request.content, "form body")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise bad_request(f"field '{_shown(key)}' appears more than once in the JSON body")
        result[key] = value
    return result


def _no_constants(name: str) -> object:
    raise bad_request(f"the JSON body contains {name}, which is not JSON")


def json_object(request: httpx2.Request) -> dict[str, Any]:
    """The body as a JSON object; 400 unless it is ``application/json``, UTF-8 and an object."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise bad_request("Content-Type must be application/json")
    try:
        text = request.content.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the body is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("the body must be a JSON object")
    return value


def text_field(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A non-empty string field (at most :data:`MAX_FIELD_CHARS`); ``null`` counts as absent.

    Raises 400 naming ``name`` when it is missing (and required), empty, too long or not a
    string.
    """
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"field '{name}' is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"field '{name}' must be a string")
    if not value:
        raise bad_request(f"field '{name}' must not be empty")
    if len(value) > MAX_FIELD_CHARS:
        raise bad_request(f"field '{name}' is too long")
    return value


def required_text(body: Mapping[str, Any], name: str) -> str:
    """A required :func:`text_field`: its value, or a 400 naming ``name``."""
    value = text_field(body, name)
    if value is None:  # text_field already refused it; this keeps the type exact
        raise bad_request(f"field '{name}' is required")
    return value


def single_header(request: httpx2.Request, name: str) -> str | None:
    """A header's value, ``None`` when absent; 400 when it is sent more than once."""
    values = request.headers.get_list(name)
    if len(values) > 1:
        raise bad_request(f"header '{name}' must appear at most once")
    return values[0] if values else None


def bearer_token(request: httpx2.Request) -> str:
    """The token of ``Authorization: Bearer <token>``.

    Raises 401 ``MISSING_BEARER`` when there is none, ``INVALID_BEARER`` when it is malformed.
    """
    header = single_header(request, "authorization")
    if not header:
        raise unauthorized(MISSING_BEARER, "an 'Authorization: Bearer <accessToken>' is required")
    match = _BEARER.fullmatch(header.strip())
    if match is None or len(match.group(1)) > MAX_FIELD_CHARS:
        raise unauthorized(INVALID_BEARER, "the Authorization header is not a usable bearer")
    return match.group(1)
