"""The core's hooks in Django: ``REDTRUST["HOOKS"]``, and the events behind the signals.

``REDTRUST["HOOKS"] = {"on_login": "myapp.hooks.on_login", ...}`` names the core's
:class:`~redtrust_middleware.Hooks` by dotted path (or gives the functions). Each may be a
plain function or an ``async def`` whatever the server: as Django does for signal receivers,
asgiref adapts it (``sync_to_async`` under ASGI, so the ORM is safe; ``async_to_sync`` under
WSGI).

Each request's session steps run with a manager that also records the core's events
(:func:`recording`); the middleware and views send the signals from them, at the same points
as always (``redtrust_logged_in`` after the sign-in is kept in ``request.session``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.utils.module_loading import import_string

from redtrust_middleware import AsyncSessionManager, Hooks, SessionManager
from redtrust_middleware.config import ConfigProblem
from redtrust_middleware.hooks import Event

__all__ = ["HOOK_NAMES", "Recorder", "read_hooks", "recording", "runtime_hooks"]

HOOK_NAMES = ("on_login", "on_refresh", "on_logout")
M = TypeVar("M", SessionManager, AsyncSessionManager)


def read_hooks(
    given: object, name: Callable[[str], str], problems: list[ConfigProblem]
) -> dict[str, Callable[..., Any]]:
    """``REDTRUST["HOOKS"]``: hook name -> dotted path or function; every mistake in
    ``problems``, named with ``name(key)``."""
    example = "for example {'on_login': 'myapp.hooks.on_login'}"
    if not isinstance(given, Mapping):
        problems.append(
            ConfigProblem(
                name=name("HOOKS"), problem="must map hook names to functions", fix=example
            )
        )
        return {}
    hooks: dict[str, Callable[..., Any]] = {}
    for key, value in given.items():
        where = f"{name('HOOKS')}[{key!r}]"
        if key not in HOOK_NAMES:
            fix = f"use one of {', '.join(map(repr, HOOK_NAMES))}"
            problems.append(ConfigProblem(name=where, problem="is not a hook", fix=fix))
            continue
        try:
            found = import_string(value) if isinstance(value, str) else value
        except ImportError as error:
            problems.append(
                ConfigProblem(
                    name=where,
                    problem=f"cannot be imported ({error})",
                    fix="give the dotted path of a function, e.g. 'myapp.hooks.on_login'",
                )
            )
            continue
        if not callable(found):
            problems.append(ConfigProblem(name=where, problem="is not a function", fix=example))
            continue
        hooks[key] = found
    return hooks


def runtime_hooks(configured: Mapping[str, Callable[..., Any]], *, asynchronous: bool) -> Hooks:
    """The configured hooks for the async or sync manager, adapted as Django's signals are."""
    adapted: dict[str, Callable[..., Any]] = {}
    for name, hook in configured.items():
        if asynchronous and not iscoroutinefunction(hook):
            adapted[name] = sync_to_async(hook)
        elif not asynchronous and iscoroutinefunction(hook):
            adapted[name] = async_to_sync(hook)
        else:
            adapted[name] = hook
    return Hooks(**adapted)


class Recorder:
    """The core's events of one request, in order, for the signals."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def last(self, kind: type[Any]) -> Any:
        """The last event of type ``kind`` this request produced, or None."""
        return next((e for e in reversed(self.events) if isinstance(e, kind)), None)


def recording(manager: M, recorder: Recorder) -> M:
    """``manager`` also recording its events in ``recorder`` (then running its own hooks)."""
    own = manager.hooks
    calls: dict[str, Callable[..., Any]] = {}
    for name in HOOK_NAMES:
        hook = getattr(own, name)
        if isinstance(manager, AsyncSessionManager):
            calls[name] = _arecord(recorder, hook)
        else:
            calls[name] = _record(recorder, hook)
    return manager.with_hooks(Hooks(**calls))


def _record(recorder: Recorder, hook: Callable[..., Any] | None) -> Callable[[Event], None]:
    def record(event: Event) -> None:
        recorder.events.append(event)
        if hook is not None:
            hook(event)

    record.__qualname__ = getattr(hook, "__qualname__", "record")  # named in failure logs
    return record


def _arecord(recorder: Recorder, hook: Callable[..., Any] | None) -> Callable[[Event], Any]:
    async def record(event: Event) -> None:
        recorder.events.append(event)
        if hook is not None:
            await hook(event)

    record.__qualname__ = getattr(hook, "__qualname__", "record")
    return record
