"""The core's hooks in Django: ``REDTRUST["HOOKS"]``, and the events behind the signals.

``REDTRUST["HOOKS"] = {"on_login": "myapp.hooks.on_login", ...}`` names the core's
:class:`~redtrust_middleware.Hooks` by dotted path (or gives the functions). Each may be a
plain function or an ``async def`` whatever the server: as Django does for signal receivers,
asgiref adapts it (``sync_to_async`` under ASGI, so the ORM is safe; ``async_to_sync`` under
WSGI).

The site's managers also record the core's events in the :class:`Recorder` of the request
being served (:func:`recorded`: the hooks are wrapped once, when the manager is built, and
each request only sets its recorder in :data:`RECORDING`, with :func:`recording_events`);
the middleware and views send the signals from them, at the same points as always
(``redtrust_logged_in`` after the sign-in is kept in ``request.session``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.utils.module_loading import import_string

from redtrust_middleware import Hooks
from redtrust_middleware.config import ConfigProblem
from redtrust_middleware.hooks import Event

__all__ = [
    "HOOK_NAMES",
    "RECORDING",
    "Recorder",
    "read_hooks",
    "recorded",
    "recording_events",
    "runtime_hooks",
]

HOOK_NAMES = ("on_login", "on_refresh", "on_logout")


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


class Recorder(list[Event]):
    """The core's events of one request, in order, for the signals.

    Set as :data:`RECORDING` around a request's session steps (:func:`recording_events`);
    the managers' hooks (:func:`recorded`) append to it. A context variable carries it, so
    a refresh task the async manager starts for this request records here too, and other
    requests (threads, tasks) never do.
    """

    __slots__ = ()

    def last(self, kind: type[Any]) -> Any:
        """The last event of type ``kind`` this request produced, or None."""
        if not self:
            return None  # most requests
        return next((e for e in reversed(self) if isinstance(e, kind)), None)


#: The recorder of the request being served in this context, if any:
#: set by :func:`recording_events`.
RECORDING: ContextVar[Recorder | None] = ContextVar("redtrust_django_recorder", default=None)


@contextmanager
def recording_events() -> Iterator[Recorder]:
    """A new :class:`Recorder`, the current one meanwhile (this request's session steps run
    inside: their events are what the signals are sent for)."""
    recorder = Recorder()
    token = RECORDING.set(recorder)
    try:
        yield recorder
    finally:
        RECORDING.reset(token)


def recorded(hooks: Hooks, *, asynchronous: bool) -> Hooks:
    """``hooks`` that also record each event in the current :class:`Recorder` (if any) before
    running the app's hook: for the async manager when ``asynchronous``, else the sync one."""
    wrap = _arecord if asynchronous else _record
    return Hooks(**{name: wrap(getattr(hooks, name)) for name in HOOK_NAMES})


def _record(hook: Callable[..., Any] | None) -> Callable[[Event], None]:
    def record(event: Event) -> None:
        recorder = RECORDING.get()
        if recorder is not None:
            recorder.append(event)
        if hook is not None:
            hook(event)

    record.__qualname__ = getattr(hook, "__qualname__", "record")  # named in failure logs
    return record


def _arecord(hook: Callable[..., Any] | None) -> Callable[[Event], Any]:
    async def record(event: Event) -> None:
        recorder = RECORDING.get()
        if recorder is not None:
            recorder.append(event)
        if hook is not None:
            await hook(event)

    record.__qualname__ = getattr(hook, "__qualname__", "record")
    return record
