"""Starlette's own authentication for a Redtrust sign-in: ``request.user``, ``request.auth``
and ``requires()``.

::

    middleware=[
        Middleware(RedtrustMiddleware, config=config),  # first: it loads the session
        Middleware(AuthenticationMiddleware, backend=RedtrustAuthBackend()),
    ]

    @requires("authenticated", redirect="redtrust:login")
    async def account(request):
        request.user.display_name       # the Redtrust user
        request.user.context.client     # their Redtrust client
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from redtrust_middleware.asgi import GATE_KEY
from redtrust_middleware.web import RedtrustContext

from .decorators import get_redtrust

__all__ = ["RedtrustAuthBackend", "RedtrustUser"]

#: What the backend says when the Redtrust middleware has not run before it.
ORDER_FIX = (
    "RedtrustAuthBackend found no Redtrust session step on this request: "
    "RedtrustMiddleware must run before AuthenticationMiddleware. List "
    "Middleware(RedtrustMiddleware, ...) before Middleware(AuthenticationMiddleware, "
    "backend=RedtrustAuthBackend()) in middleware=[...], or call "
    "app.add_middleware(RedtrustMiddleware, ...) after adding AuthenticationMiddleware"
)


class RedtrustUser(BaseUser):
    """The signed-in Redtrust user, as Starlette's ``request.user``.

    ``identity`` and ``display_name`` are the token's subject (``sub``; empty when it has
    none); ``context`` is the request's :class:`RedtrustContext` (fresh token, client,
    claims, sign-out field).
    """

    def __init__(self, context: RedtrustContext) -> None:
        self.context = context

    @property
    def is_authenticated(self) -> bool:
        """Always True: an anonymous request gets Starlette's ``UnauthenticatedUser``."""
        return True

    @property
    def display_name(self) -> str:
        """The user's name: the token's subject."""
        return self.context.subject or ""

    @property
    def identity(self) -> str:
        """The user's stable identifier: the token's subject."""
        return self.context.subject or ""

    def __repr__(self) -> str:
        return f"RedtrustUser(identity={self.identity!r})"


class RedtrustAuthBackend(AuthenticationBackend):
    """Starlette's ``AuthenticationBackend`` for the session ``RedtrustMiddleware`` loaded.

    Signed in, a request gets a :class:`RedtrustUser` and the scopes of :meth:`scopes`;
    signed out it is anonymous (``request.auth.scopes`` empty). So is a signed-in user whose
    session cannot be read right now (Redtrust or the store down): ``requires()`` sees no
    user, where ``requires_redtrust`` answers the clear 503. It reads no cookie and makes no
    call itself; ``RedtrustMiddleware`` must run before it.
    """

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """The credentials and user of ``conn``, or None when it is not signed in."""
        if GATE_KEY not in conn.scope:
            if conn.scope["type"] == "websocket":  # the Redtrust middleware lets these by
                return None
            raise RuntimeError(ORDER_FIX)
        context = get_redtrust(conn)
        if context is None:
            return None
        return AuthCredentials(self.scopes(context)), RedtrustUser(context)

    def scopes(self, context: RedtrustContext) -> list[str]:
        """``request.auth.scopes`` of a signed-in user: ``"authenticated"``, ``"redtrust"``
        (signed in with Redtrust, for apps with several backends), then each scope of the
        token's ``scope`` claim (RFC 9068's space-separated list; Redtrust publishes no
        claims, so usually none). Override to map other claims to scopes."""
        return ["authenticated", "redtrust", *claim_scopes(context.claims)]


def claim_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The scopes of a ``scope`` claim: a space-separated string (RFC 8693, RFC 9068) or a
    list of strings; anything else is none."""
    value = claims.get("scope")
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str) and item]
    return []
