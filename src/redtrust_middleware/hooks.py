"""Callbacks when a user signs in, has their token refreshed, or their session ends.

Authlib's clients take an ``update_token`` callback; this is the same idea for every face of
the library. Give a :class:`Hooks` value to the session manager (or to the face that builds
one: ``RedtrustASGIMiddleware(hooks=...)``, ``RedtrustWSGIMiddleware(hooks=...)``, the Flask
extension's ``hooks=``, Django's ``REDTRUST["HOOKS"]``)::

    def remember(event: LoginEvent) -> None:
        users.upsert(event.subject, event.claims)

    hooks = Hooks(on_login=remember)

When each fires, once, from the request whose operation caused it:

- ``on_login`` (:class:`LoginEvent`): a callback completed and the new session was written
  to the store.
- ``on_refresh`` (:class:`RefreshEvent`): this process refreshed a token at Redtrust and the
  new tokens are in place (saved; or, when that write failed, kept for the next request to
  save). Only the request that made the call fires it, never the requests that waited for it.
- ``on_logout`` (:class:`LogoutEvent`): the session ended, with the
  :class:`LogoutReason` (signed out, refresh token rejected, a timeout, ...). A session
  whose browser never comes back simply expires in the store: nothing fires for it.

Hooks run after the operation finished (its store writes done, its locks released), before
the request goes on. A hook that raises is logged (the hook, the exception's type and
where it was raised; never its message, which might hold a token) and changes nothing: the
sign-in stays done, the request is answered as without the hook.

A hook is a plain function or an ``async def``. The async drivers (ASGI) await async hooks
and run plain ones in a worker thread, as Starlette runs a plain endpoint, so a hook that
writes to a database does not stall the event loop. The sync drivers (WSGI, Flask, scripts)
refuse an ``async def`` hook when they are built: they have no event loop to run it on.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import anyio.to_thread

from .exceptions import ConfigurationError
from .logevents import log
from .tokens import TokenSet

__all__ = [
    "Event",
    "Hook",
    "Hooks",
    "LoginEvent",
    "LogoutEvent",
    "LogoutReason",
    "RefreshEvent",
    "adeliver",
    "deliver",
]

logger = logging.getLogger(__name__)


class LogoutReason(enum.StrEnum):
    """Why a session ended (a ``str``: ``event.reason == "signed_out"`` works)."""

    #: The user signed out (the sign-out form).
    SIGNED_OUT = "signed_out"
    #: Redtrust refused the refresh token: the session was ended or revoked there.
    REFRESH_REJECTED = "refresh_rejected"
    #: The access token expired and could not be refreshed: the session has no refresh
    #: token, or a refresh whose outcome is unknown spent it (it is never presented twice).
    TOKEN_EXPIRED = "token_expired"
    #: The browser came back after ``idle_timeout`` of inactivity.
    IDLE_TIMEOUT = "idle_timeout"
    #: The browser came back after ``absolute_timeout`` since its sign-in.
    ABSOLUTE_TIMEOUT = "absolute_timeout"
    #: The browser's session is not in the store any more: it timed out there (the store
    #: drops a record at its timeout), or cannot be opened (new encryption keys). Nothing
    #: is known of the user then (``subject`` is None).
    EXPIRED = "expired"


class _WithTokens:
    """What an event with the session's (new) tokens tells of them."""

    __slots__ = ()
    tokens: TokenSet

    @property
    def claims(self) -> Mapping[str, Any]:
        """The access token's claims."""
        return self.tokens.claims

    @property
    def expires_at(self) -> datetime:
        """When the access token expires (aware UTC)."""
        return self.tokens.expires_at


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginEvent(_WithTokens):
    """A user signed in. ``tokens`` (never in ``repr``) are the session's new tokens."""

    subject: str | None
    tokens: TokenSet = field(repr=False)
    #: When the session started (UNIX seconds, the manager's clock).
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshEvent(_WithTokens):
    """A user's tokens were refreshed at Redtrust. ``tokens`` are the new ones (never in
    ``repr``): persist them here if the app keeps its own copy (Authlib's ``update_token``)."""

    subject: str | None
    tokens: TokenSet = field(repr=False)
    #: When the session started (UNIX seconds).
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LogoutEvent:
    """A session ended, and why. ``subject`` and ``claims`` are the user's, when known."""

    reason: LogoutReason
    subject: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


Event: TypeAlias = LoginEvent | RefreshEvent | LogoutEvent
#: A hook: a plain function or an ``async def`` taking the event; its result is ignored.
Hook: TypeAlias = Callable[[Any], Any]
_NAMES = {LoginEvent: "on_login", RefreshEvent: "on_refresh", LogoutEvent: "on_logout"}


def _is_async(hook: Callable[..., Any]) -> bool:
    while isinstance(hook, functools.partial):
        hook = hook.func
    if inspect.iscoroutinefunction(hook):
        return True
    call = getattr(type(hook), "__call__", None)  # noqa: B004 - an object with async __call__
    return not inspect.isroutine(hook) and inspect.iscoroutinefunction(call)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """The callbacks of one app (each optional): see the module docstring for when each runs.

    Raises:
        ConfigurationError: a hook is not callable.
    """

    on_login: Hook | None = None
    on_refresh: Hook | None = None
    on_logout: Hook | None = None

    def __post_init__(self) -> None:
        for name in _NAMES.values():
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise ConfigurationError(
                    f"hooks.{name}",
                    f"must be a function taking the event, not {type(hook).__name__}: "
                    f"Hooks({name}=my_function)",
                )

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in _NAMES.values())

    def hook_for(self, event: Event) -> Hook | None:
        """The hook that receives ``event``, if any."""
        hook: Hook | None = getattr(self, _NAMES[type(event)])
        return hook

    def require_sync(self, driver: str) -> None:
        """Refuse ``async def`` hooks for the synchronous ``driver`` (named in the error).

        Raises:
            ConfigurationError: naming the hook and the fix.
        """
        for name in _NAMES.values():
            hook = getattr(self, name)
            if hook is not None and _is_async(hook):
                raise ConfigurationError(
                    f"hooks.{name}",
                    f"is an async function, and {driver} is synchronous (no event loop to run "
                    "it on): make it a plain def, or serve the app with the ASGI middleware",
                )


NO_HOOKS = Hooks()


def _failed(hook: Hook, event: Event, error: Exception) -> None:
    """Log a hook's failure: which hook, the exception's type and where it was raised;
    not its message nor the event's tokens."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    name = getattr(hook, "__qualname__", type(hook).__qualname__)
    log(
        logger,
        "redtrust.hook.failed",
        "redtrust: %s hook %s failed (%s%s); ignored",
        _NAMES[type(event)],
        name,
        type(error).__name__,
        where,
        hook=_NAMES[type(event)],
        error_type=type(error).__name__,
    )


def deliver(hooks: Hooks, events: Sequence[Event]) -> None:
    """Run the hooks of ``events``, in order (sync drivers; async hooks were refused)."""
    for event in events:
        hook = hooks.hook_for(event)
        if hook is None:
            continue
        try:
            result = hook(event)
            if inspect.isawaitable(result):  # a plain def that returned a coroutine
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # never awaited: no "never awaited" warning later
                raise TypeError("the hook returned an awaitable in a synchronous app")
        except Exception as error:
            _failed(hook, event, error)


async def adeliver(hooks: Hooks, events: Sequence[Event]) -> None:
    """Run the hooks of ``events``, in order (async drivers): async hooks are awaited, plain
    ones run in a worker thread."""
    for event in events:
        hook = hooks.hook_for(event)
        if hook is None:
            continue
        try:
            if _is_async(hook):
                await hook(event)
            else:
                result = await anyio.to_thread.run_sync(hook, event)
                if inspect.isawaitable(result):
                    await result
        except Exception as error:
            _failed(hook, event, error)
