"""The OpenAPI description of a Redtrust sign-in: the cookie scheme, the answers of a
protected operation, and the library's own routes (which the middleware serves, so no
framework sees them). Plain dicts: no FastAPI needed here."""

from __future__ import annotations

from typing import Any

from redtrust_middleware.config import RedtrustConfig
from redtrust_middleware.web import Gate

__all__ = ["SCHEME_NAME", "add_to_schema", "cookie_scheme"]

#: The name of the security scheme in ``components.securitySchemes``.
SCHEME_NAME = "redtrust"
TAG = "redtrust"

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "login_url": {"type": "string"}},
}


def cookie_scheme(cookie_name: str) -> dict[str, Any]:
    """The ``apiKey`` cookie scheme for the session cookie ``cookie_name``."""
    return {
        "type": "apiKey",
        "in": "cookie",
        "name": cookie_name,
        "description": (
            "The Redtrust session: an opaque handle the browser gets by signing in at the "
            "login route (`__Host-redtrust_session` on https, `redtrust_session` on plain "
            "http). Tokens never reach the browser."
        ),
    }


def _json(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RedtrustError"}}},
        **extra,
    }


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


_RETRY = {"Retry-After": {"schema": {"type": "integer"}}}
#: What a protected operation answers instead of running (the middleware sends these).
PROTECTED_RESPONSES: dict[str, dict[str, Any]] = {
    "401": _json(
        "Not signed in (API and fetch callers): `not_authenticated` with `login_url`, and a "
        '`WWW-Authenticate: Cookie realm="redtrust"` challenge. A page navigation is '
        "redirected (302) to `login_url` instead.",
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "503": _json(
        "Signed in, but Redtrust (`redtrust_unavailable`) or the session store "
        "(`store_unavailable`) cannot be reached now; the session is kept. An HTML page for "
        "page navigations.",
        headers=_RETRY,
    ),
}


def _parameter(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def library_paths(config: RedtrustConfig) -> dict[str, dict[str, Any]]:
    """The login, callback and logout routes, as the middleware serves them."""
    unavailable = _page("The session store cannot be reached; nothing changed.")
    login = {
        "tags": [TAG],
        "summary": "Sign in with Redtrust",
        "operationId": "redtrust_login",
        "parameters": [
            _parameter("next", "Where to land after sign-in: a local path (validated).")
        ],
        "responses": {
            "302": _redirect("To Redtrust's signed login page."),
            "405": _page("Only GET starts a login."),
            "503": unavailable,
        },
    }
    callback = {
        "tags": [TAG],
        "summary": "Redtrust's redirect back after sign-in",
        "description": "Opened by the browser when Redtrust sends it back; not for apps.",
        "operationId": "redtrust_callback",
        "parameters": [
            _parameter("tkn", "Redtrust's one-time temporary token.", required=True),
            _parameter("state", "The login's nonce, when `nonce_in_redirect` is on."),
        ],
        "responses": {
            "303": _redirect("Signed in: the session cookie is set; on to `next`."),
            "400": _page("A refused callback (expired, replayed, or started elsewhere)."),
            "502": _page("Redtrust answered the token exchange with an error."),
            "503": _page("Redtrust or the session store cannot be reached."),
        },
    }
    next_parameter = _parameter("next", "Where to go after sign-out (validated).")
    logout_get = {
        "tags": [TAG],
        "summary": "Sign-out confirmation form",
        "operationId": "redtrust_logout_form",
        "responses": {"200": _page("A form that posts the sign-out.")},
    }
    logout_post = {
        "tags": [TAG],
        "summary": "Sign out",
        "operationId": "redtrust_logout",
        "parameters": [next_parameter],
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"redtrust_signout": {"type": "string"}},
                    }
                }
            },
        },
        "responses": {
            "303": _redirect("Signed out: the session cookie is cleared; on to `next` or `/`."),
            "403": _page("No proof the request came from this site; the session lives on."),
            "503": unavailable,
        },
    }
    return {
        config.login_path: {"get": login},
        config.callback_path: {"get": callback},
        config.logout_path: {"get": logout_get, "post": logout_post},
    }


def add_to_schema(schema: dict[str, Any], config: RedtrustConfig) -> dict[str, Any]:
    """``schema`` (an OpenAPI document, changed in place) with the real session cookie in the
    cookie scheme, the 401/503 of each operation that requires it, and the library's routes
    (where the app has no operation of its own on those paths)."""
    cookie_name = Gate(config).session_cookie
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME_NAME] = cookie_scheme(cookie_name)
    components.setdefault("schemas", {}).setdefault("RedtrustError", _ERROR)
    paths = schema.setdefault("paths", {})
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and {SCHEME_NAME: []} in operation.get("security", []):
                responses = operation.setdefault("responses", {})
                for status, response in PROTECTED_RESPONSES.items():
                    responses.setdefault(status, response)
    for path, item in library_paths(config).items():
        paths.setdefault(path, item)
    if not any(tag.get("name") == TAG for tag in schema.get("tags", [])):
        schema.setdefault("tags", []).append(
            {"name": TAG, "description": "Sign-in routes served by the Redtrust middleware."}
        )
    return schema
