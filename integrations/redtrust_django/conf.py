"""The ``REDTRUST`` setting, read lazily, and the per-site runtime built from it.

Nothing is read at import: the runtime is built on first use and dropped whenever a setting
it depends on changes (``override_settings`` works in tests). Keys of ``REDTRUST`` are the
upper-case names of :class:`~redtrust_middleware.RedtrustConfig` fields, read by type from the
core's settings table (``redtrust_middleware.config.SETTINGS``), plus the Django-only ``CACHE``
(alias of the cache holding refresh locks), ``API_PREFIXES`` and ``ENDPOINTS``.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
    ConfigurationError,
    Keyring,
    RedtrustConfig,
    SessionManager,
)
from redtrust_middleware._clock import Clock, system_clock
from redtrust_middleware._settings import close_match
from redtrust_middleware.config import CERTIFICATE_ENROLL, RA_API, SETTINGS, Endpoint, Profile
from redtrust_middleware.doctor import ConfigProblem, collect_config
from redtrust_middleware.web import Gate

__all__ = [
    "REQUIRED_KEYS",
    "Problem",
    "Reading",
    "Runtime",
    "get_runtime",
    "inspect_settings",
    "read_settings",
    "reset_runtime",
    "use_transports",
]

#: Every core setting by its key: the upper-case field name (``"CONSUMER"``, ...).
_SETTINGS = {setting.key: setting for setting in SETTINGS}
#: Set by the adapter from the URLconf (``include("redtrust_django.urls")``).
_DERIVED = {"LOGIN_PATH", "CALLBACK_PATH", "LOGOUT_PATH"}
_ADAPTER_KEYS = {"CACHE", "API_PREFIXES", "ENDPOINTS"}
#: Required here (``PUBLIC_URL`` too: ``RedirectUrl`` is built from it).
REQUIRED_KEYS = ("SERVER_URL", "PARTNER", "SHARED_SECRET", "PUBLIC_URL")
_WATCHED = {"REDTRUST", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "CACHES", "ROOT_URLCONF"}


def _label(key: object) -> str:
    return f"REDTRUST[{key!r}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One mistake in the ``REDTRUST`` setting: the key, what is wrong, how to fix it."""

    key: str
    problem: str
    fix: str = ""
    #: The environment variable of the same setting (``REDTRUST_<KEY>``), when it has one.
    variable: str | None = None
    #: ``redtrust_django.urls`` is not included (the routes are unknown).
    urls: bool = False

    def error(self) -> ConfigurationError:
        """The problem as the :class:`ConfigurationError` that :func:`read_settings` raises."""
        return ConfigurationError(
            self.key, f"{self.problem}; {self.fix}" if self.fix else self.problem
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """Everything :func:`inspect_settings` found: the config (built with defaults in place
    of refused values; None when a required key is wrong), the adapter options and every
    problem."""

    config: RedtrustConfig | None
    options: dict[str, Any]
    problems: tuple[Problem, ...]


def _setting_problem(setting: Any, problem: str | None = None) -> Problem:
    text = problem or setting.kind.python_must or setting.kind.must
    return Problem(
        key=_label(setting.key),
        problem=text,
        fix=f"for example {setting.key!r}: {setting.python_example}",
        variable=setting.variable,
    )


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
    return tuple(
        hashlib.sha256(b"redtrust-django/v1:" + str(s).encode()).hexdigest() for s in secrets if s
    )


def _endpoints(given: object, problems: list[Problem]) -> dict[str, Endpoint]:
    """``ENDPOINTS``: ``{"refresh": "PUT /custom/path"}`` overrides endpoints of the profile."""
    if not isinstance(given, Mapping):
        problems.append(
            Problem(
                key=_label("ENDPOINTS"),
                problem='must map endpoint names to "METHOD /path"',
                fix="for example {'refresh': 'PUT /raapi/v1/auth/refresh-token'}",
            )
        )
        return {}
    endpoints: dict[str, Endpoint] = {}
    for name, text in given.items():
        label = f"{_label('ENDPOINTS')}[{name!r}]"
        if name not in Profile.ENDPOINTS:
            hint = close_match(str(name).upper(), [n.upper() for n in Profile.ENDPOINTS])
            problems.append(
                Problem(
                    key=label,
                    problem=f"is not an endpoint; one of {', '.join(Profile.ENDPOINTS)}"
                    f"{hint.lower()}",
                )
            )
            continue
        try:
            endpoints[name] = Endpoint.parse(text if isinstance(text, str) else "")
        except ConfigurationError as error:
            example = getattr(RA_API, name)
            problems.append(
                Problem(
                    key=label,
                    problem=error.problem,
                    fix=f"for example {str(example)!r}",
                    variable=f"REDTRUST_ENDPOINT_{name.upper()}",
                )
            )
    return endpoints


def inspect_settings() -> Reading:
    """Read ``settings.REDTRUST`` and find every problem in it at once (for the checks)."""
    raw = getattr(settings, "REDTRUST", None)
    if not isinstance(raw, Mapping):
        problem = Problem(
            key="REDTRUST",
            problem="must be a dict setting",
            fix=f"REDTRUST = {{{', '.join(f'{key!r}: ...' for key in REQUIRED_KEYS)}}}",
        )
        return Reading(config=None, options={}, problems=(problem,))
    problems: list[Problem] = []
    for key in raw:
        if key in _DERIVED:
            problems.append(
                Problem(
                    key=_label(key),
                    problem="comes from where redtrust_django.urls is included",
                    fix="remove it from REDTRUST",
                )
            )
        elif key not in _SETTINGS and key not in _ADAPTER_KEYS:
            known = (set(_SETTINGS) | _ADAPTER_KEYS) - _DERIVED
            problems.append(
                Problem(
                    key=_label(key),
                    problem=f"is not a Redtrust setting{close_match(str(key), known)}",
                )
            )
    read: list[ConfigProblem] = []
    for key in REQUIRED_KEYS:
        if not raw.get(key):
            problems.append(_setting_problem(_SETTINGS[key], "is required"))
            read.append(
                ConfigProblem(field=key.lower(), problem="is required", setting=_SETTINGS[key])
            )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        setting = _SETTINGS.get(key)
        if setting is None or key in _DERIVED or (key in REQUIRED_KEYS and not value):
            continue
        try:
            values[setting.name] = setting.kind.accept(value)
        except (TypeError, ValueError):
            problems.append(_setting_problem(setting))
            read.append(ConfigProblem(field=setting.name, problem="", setting=setting))
    values.setdefault("encryption_keys", _secret_keys())
    profile = values.get("profile", CERTIFICATE_ENROLL)
    values["profile"] = dataclasses.replace(
        profile, **_endpoints(raw.get("ENDPOINTS", {}), problems)
    )
    routes = _route_paths()
    if routes is None:
        problems.append(
            Problem(
                key="urls",
                problem="redtrust_django.urls is not included in the URLconf",
                fix='add path("redtrust/", include("redtrust_django.urls")) to your URLconf',
                urls=True,
            )
        )
    else:
        values.update(routes)
    collected = collect_config(values, read)
    for found in collected.problems[len(read) :]:
        setting = found.setting
        if setting is None:
            problems.append(Problem(key=_label(found.field), problem=found.problem))
        else:
            problems.append(_setting_problem(setting, found.problem))
    prefixes = raw.get("API_PREFIXES", ("/api/",))
    if isinstance(prefixes, str) or not all(isinstance(p, str) for p in prefixes):
        problems.append(
            Problem(
                key=_label("API_PREFIXES"),
                problem="must be a list of path prefixes",
                fix="for example ['/api/']",
            )
        )
        prefixes = ("/api/",)
    cache = raw.get("CACHE", "default")
    if not isinstance(cache, str) or cache not in settings.CACHES:
        problems.append(
            Problem(
                key=_label("CACHE"),
                problem="must name a cache in CACHES",
                fix=f"one of {', '.join(map(repr, settings.CACHES))}",
            )
        )
        cache = "default"
    return Reading(
        config=collected.config,
        options={"api_prefixes": tuple(prefixes), "cache": cache},
        problems=tuple(problems),
    )


def read_settings() -> tuple[RedtrustConfig, dict[str, Any]]:
    """The core config and the adapter options from ``settings.REDTRUST``.

    Raises:
        ConfigurationError: naming the ``REDTRUST`` key at fault (the first problem of
            :func:`inspect_settings`; ``manage.py check`` lists them all).
    """
    reading = inspect_settings()
    if reading.problems:
        raise reading.problems[0].error()
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

    Built once per settings; the managers (and their connection pools) lazily.
    """

    config: RedtrustConfig
    gate: Gate
    cache_alias: str
    parts: _Parts
    keyring: Keyring
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
        return SessionManager(self.config, client=client, keyring=self.keyring, clock=parts.clock)

    def _new_async(self) -> AsyncSessionManager:
        parts = self.parts
        client = AsyncClient(self.config, transport=parts.async_transport, clock=parts.clock)
        return AsyncSessionManager(
            self.config, client=client, keyring=self.keyring, clock=parts.clock
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
                gate=Gate(config, api_prefixes=options["api_prefixes"], clock=_parts.clock),
                cache_alias=options["cache"],
                parts=_parts,
                keyring=Keyring(config.encryption_keys),
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
