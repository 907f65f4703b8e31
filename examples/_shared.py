"""What the example apps share: their HTML (escaped; never a token) and lazy start-up."""

from __future__ import annotations

import html
from collections.abc import Callable

from redtrust_middleware.asgi import ASGIApp, Receive, Scope, Send
from redtrust_middleware.web import RedtrustContext

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;"
    "color:#222}nav a{margin-right:1em}code{background:#f3f3f3;padding:0 .3em}"
    "button{font:inherit}"
)


def page(title: str, body: str, *, logout_path: str, signed_in: bool) -> str:
    """A whole page: navigation, a title and ``body`` (already escaped HTML)."""
    sign = (
        f'<form method="post" action="{html.escape(logout_path)}" style="display:inline">'
        '<button type="submit">Sign out</button></form>'
        if signed_in
        else '<a href="/redtrust/login?next=/me">Sign in with Redtrust</a>'
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><nav><a href='/'>Home</a><a href='/me'>Me</a>"
        f"<a href='/api/me'>/api/me</a>{sign}</nav><h1>{html.escape(title)}</h1>{body}</html>"
    )


def describe(context: RedtrustContext) -> dict[str, str | None]:
    """Who is signed in and until when: safe to show (never the token itself)."""
    return {
        "user": context.subject,
        "token_expires_at": context.expires_at.isoformat(),
        "refreshed_now": str(context.refreshed).lower(),
    }


def me_body(context: RedtrustContext) -> str:
    """The /me page's content."""
    info = describe(context)
    return (
        f"<p>Signed in as <strong>{html.escape(info['user'] or '?')}</strong>.</p>"
        f"<p>The access token expires at <code>{html.escape(info['token_expires_at'] or '')}"
        "</code>; it is refreshed before that, on the next request.</p>"
    )


class FromEnvironment:
    """An ASGI app built on first use, so importing an example needs no configuration."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)
