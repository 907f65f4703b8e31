"""The ``REDTRUST`` setting, read lazily, and the per-site runtime built from it.

Nothing is read at import: the runtime is built on first use and dropped whenever a setting
it depends on changes (``override_settings`` works in tests). Keys of ``REDTRUST`` are the
upper-case names of :class:`~redtrust_middleware.RedtrustConfig` fields, read by type from the
core's settings table (``redtrust_middleware.config.SETTINGS``), plus the Django-only ``CACHE``
(alias of the cache holding refresh locks), ``API_PREFIXES``, ``ENDPOINTS`` and ``HOOKS`` (the
core's hooks by dotted path, see :mod:`redtrust_django._hooks`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, reverse

from redtrust_middleware import (
    AsyncClient,
    AsyncSessionManager,
    Client,
    Keyring,
    RedtrustConfig,
    SessionManager,
)
from redtrust_middleware._clock import Clock, system_clock
from redtrust_middleware.config import (
    CERTIFICATE_ENROLL,
    ConfigProblem,
    Endpoint,
    Source,
    collect_config,
    combined_error,
    read_endpoints,
    read_mapping,
)
from redtrust_middleware.stores import derive_keys
from redtrust_middleware.web import Gate

from ._hooks import read_hooks, recorded, runtime_hooks
from ._users import backend_enabled
from .pages import DjangoPages

__all__ = [
    "REQUIRED_KEYS",
    "SOURCE",
    "URLCONF",
    "Reading",
    "Runtime",
    "get_runtime",
    "inspect_settings",
    "read_settings",
    "reset_runtime",
    "use_transports",
]

#: How the core names a key of ``REDTRUST`` in its errors: ``REDTRUST['TIMEOUT']``.
SOURCE = Source(label="REDTRUST[{key!r}]")
#: Set by the adapter from the URLconf (``include("redtrust_django.urls")``).
_DERIVED = {"LOGIN_PATH", "CALLBACK_PATH", "LOGOUT_PATH"}
_ADAPTER_KEYS = {"CACHE", "API_PREFIXES", "ENDPOINTS", "HOOKS"}
#: Required here (``PUBLIC_URL`` too: ``RedirectUrl`` is built from it).
REQUIRED_KEYS = ("SERVER_URL", "PARTNER", "SHARED_SECRET", "PUBLIC_URL")
#: The name of the problem "``redtrust_django.urls`` is not included" (the setting at fault).
URLCONF = "ROOT_URLCONF"
_WATCHED = {
    "AUTHENTICATION_BACKENDS",
    "CACHES",
    "REDTRUST",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "SESSION_COOKIE_NAME",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """Everything :func:`inspect_settings` found: the config (built with defaults in place
    of refused values; None when a required key is wrong), the adapter options and every
    problem, each naming its ``REDTRUST`` key."""

    config: RedtrustConfig | None
    options: dict[str, Any]
    problems: tuple[ConfigProblem, ...]


def _route_paths() -> dict[str, str] | None:
    try:
        return {
            "login_path": reverse("redtrust:login"),
            "callback_path": reverse("redtrust:callback"),
            "logout_path": reverse("redtrust:logout"),
        }
    except NoReverseMatch:
        return None


def _secret_keys() -> tuple[str, ...]:
    """Encryption keys derived from ``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS`` (rotation:
    the first seals, all open). Hashed with a label, so they differ from Django's own uses."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return derive_keys(secrets, "redtrust-django/v1")


def _endpoints(given: object, problems: list[ConfigProblem]) -> dict[str, Endpoint]:
    """``ENDPOINTS``: ``{"refresh": "PUT /custom/path"}`` overrides endpoints of the profile."""
    if not isinstance(given, Mapping):
        problems.append(
            ConfigProblem(
                name=SOURCE.name("ENDPOINTS"),
                problem='must map endpoint names to "METHOD /path"',
                fix="for example {'refresh': 'PUT /raapi/v1/auth/refresh-token'}",
            )
        )
        return {}
    endpoints, wrong = read_endpoints(
        given,
        name=lambda name: f"{SOURCE.name('ENDPOINTS')}[{name!r}]",
        example=lambda _, endpoint: repr(str(endpoint)),
    )
    problems += wrong
    return endpoints


def _options(raw: Mapping[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    """The adapter's own keys: ``API_PREFIXES``, ``CACHE`` and ``HOOKS``."""
    prefixes = raw.get("API_PREFIXES", ("/api/",))
    if isinstance(prefixes, str) or not all(isinstance(p, str) for p in prefixes):
        problems.append(
            ConfigProblem(
                name=SOURCE.name("API_PREFIXES"),
                problem="must be a list of path prefixes",
                fix="for example ['/api/']",
            )
        )
        prefixes = ("/api/",)
    cache = raw.get("CACHE", "default")
    if not isinstance(cache, str) or cache not in settings.CACHES:
        problems.append(
            ConfigProblem(
                name=SOURCE.name("CACHE"),
                problem="must name a cache in CACHES",
                fix=f"one of {', '.join(map(repr, settings.CACHES))}",
            )
        )
        cache = "default"
    hooks = read_hooks(raw.get("HOOKS", {}), SOURCE.name, problems)
    return {"api_prefixes": tuple(prefixes), "cache": cache, "hooks": hooks}


def inspect_settings() -> Reading:
    """Read ``settings.REDTRUST`` and find every problem in it at once (for the checks)."""
    raw = getattr(settings, "REDTRUST", None)
    if not isinstance(raw, Mapping):
        problem = ConfigProblem(
            name="REDTRUST",
            problem="must be a dict setting",
            fix=f"REDTRUST = {{{', '.join(f'{key!r}: ...' for key in REQUIRED_KEYS)}}}",
        )
        return Reading(config=None, options={}, problems=(problem,))
    problems = [
        ConfigProblem(
            name=SOURCE.name(key),
            problem="comes from where redtrust_django.urls is included",
            fix="remove it from REDTRUST",
        )
        for key in raw
        if key in _DERIVED
    ]
    values, read = read_mapping(
        {key: value for key, value in raw.items() if key not in _DERIVED},
        SOURCE,
        skip={key.lower() for key in _DERIVED},
        required={key.lower() for key in REQUIRED_KEYS},
        own=_ADAPTER_KEYS,
    )
    problems += read
    values.setdefault("encryption_keys", _secret_keys())
    profile = values.get("profile", CERTIFICATE_ENROLL)
    values["profile"] = dataclasses.replace(
        profile, **_endpoints(raw.get("ENDPOINTS", {}), problems)
    )
    routes = _route_paths()
    if routes is None:
        problems.append(
            ConfigProblem(
                name=URLCONF,
                problem="redtrust_django.urls is not included in the URLconf",
                fix='add path("redtrust/", include("redtrust_django.urls")) to your URLconf',
            )
        )
    else:
        values.update(routes)
    # Only the refused settings decide whether a config can be built (an unknown key does not).
    refused = [problem for problem in read if problem.setting is not None]
    collected = collect_config(values, refused, source=SOURCE)
    problems += collected.problems[len(refused) :]
    options = _options(raw, problems)
    return Reading(config=collected.config, options=options, problems=tuple(problems))


def read_settings() -> tuple[RedtrustConfig, dict[str, Any]]:
    """The core config and the adapter options from ``settings.REDTRUST``.

    Raises:
        ConfigurationError: naming the ``REDTRUST`` key at fault (the first problem of
            :func:`inspect_settings`, its message listing the others; ``manage.py check``
            gives one error each).
    """
    reading = inspect_settings()
    if reading.problems:
        raise combined_error(reading.problems)
    assert reading.config is not None  # no problem: every required key was read
    return reading.config, reading.options


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parts:
    """What tests (or an app) may put in place of the network and the clock."""

    transport: Any = None
    async_transport: Any = None
    clock: Clock = system_clock


@dataclass(kw_only=True)
class Runtime:
    """The site's Redtrust machinery: config, gate, and one session manager per mode.

    Built once per settings; the managers (and their connection pools) lazily. The managers'
    hooks also record the core's events in the current request's recorder (``_hooks``).
    """

    config: RedtrustConfig
    gate: Gate
    cache_alias: str
    parts: _Parts
    keyring: Keyring
    #: ``REDTRUST["HOOKS"]``, imported: hook name -> function (sync or async).
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: ``AUTHENTICATION_BACKENDS`` lists a ``RedtrustBackend``: only then can a Django user
    #: come from a Redtrust session, and only then does the middleware reconcile the two.
    reconciles_users: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sync: SessionManager | None = field(default=None, repr=False)
    _async: AsyncSessionManager | None = field(default=None, repr=False)

    def _made(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if getattr(self, name) is None:
                setattr(self, name, make())
            return getattr(self, name)

    @property
    def sync_manager(self) -> SessionManager:
        """The manager for WSGI requests and sync views."""
        manager: SessionManager = self._sync or self._made("_sync", self._new_sync)
        return manager

    @property
    def async_manager(self) -> AsyncSessionManager:
        """The manager for ASGI requests."""
        manager: AsyncSessionManager = self._async or self._made("_async", self._new_async)
        return manager

    def _new_sync(self) -> SessionManager:
        parts = self.parts
        client = Client(self.config, transport=parts.transport, clock=parts.clock)
        return SessionManager(
            self.config,
            client=client,
            keyring=self.keyring,
            clock=parts.clock,
            hooks=recorded(runtime_hooks(self.hooks, asynchronous=False), asynchronous=False),
        )

    def _new_async(self) -> AsyncSessionManager:
        parts = self.parts
        client = AsyncClient(self.config, transport=parts.async_transport, clock=parts.clock)
        return AsyncSessionManager(
            self.config,
            client=client,
            keyring=self.keyring,
            clock=parts.clock,
            hooks=recorded(runtime_hooks(self.hooks, asynchronous=True), asynchronous=True),
        )


_runtime: Runtime | None = None
_parts = _Parts()
_build_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The runtime for the current settings (built on first use)."""
    runtime = _runtime
    if runtime is None:
        runtime = _build()
    return runtime


def _build() -> Runtime:
    global _runtime
    with _build_lock:
        if _runtime is None:
            config, options = read_settings()
            _runtime = Runtime(
                config=config,
                gate=Gate(
                    config,
                    api_prefixes=options["api_prefixes"],
                    clock=_parts.clock,
                    pages=DjangoPages(),
                    session_cookie=settings.SESSION_COOKIE_NAME,  # where the sign-in is
                ),
                cache_alias=options["cache"],
                parts=_parts,
                keyring=Keyring(config.encryption_keys),
                hooks=options["hooks"],
                reconciles_users=backend_enabled(),
            )
        return _runtime


def reset_runtime() -> None:
    """Forget the runtime: the next request builds it from the settings again."""
    global _runtime
    with _build_lock:  # never interleaved with a build from the previous settings
        _runtime = None
    # The old managers' connection pools are left to the garbage collector: requests still
    # running on the old settings may be using them.


@contextmanager
def use_transports(
    *, transport: Any = None, async_transport: Any = None, clock: Clock = system_clock
) -> Iterator[None]:
    """Build the runtime with these HTTP transports and clock (the sandbox's, in tests)."""
    global _parts
    previous = _parts
    _parts = _Parts(transport=transport, async_transport=async_transport, clock=clock)
    reset_runtime()
    try:
        yield
    finally:
        _parts = previous
        reset_runtime()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting in _WATCHED:
        reset_runtime()
