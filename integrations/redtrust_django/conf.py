"""The ``REDTRUST`` setting, read lazily, and the per-site runtime built from it.

Nothing is read at import: the runtime is built on first use and dropped whenever a setting
it depends on changes (``override_settings`` works in tests). Keys of ``REDTRUST`` are the
upper-case names of :class:`~redtrust_middleware.RedtrustConfig` fields, plus the Django-only
``CACHE`` (alias of the cache holding refresh locks) and ``API_PREFIXES``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
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
from redtrust_middleware.config import PROFILES, Endpoint
from redtrust_middleware.web import Gate

__all__ = ["Runtime", "get_runtime", "read_settings", "reset_runtime", "use_transports"]

_CONFIG_FIELDS = {f.name.upper(): f.name for f in fields(RedtrustConfig)}
#: Set by the adapter from the URLconf (``include("redtrust_django.urls")``).
_DERIVED = {"LOGIN_PATH", "CALLBACK_PATH", "LOGOUT_PATH"}
_ADAPTER_KEYS = {"CACHE", "API_PREFIXES", "ENDPOINTS"}
_WATCHED = {"REDTRUST", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "CACHES", "ROOT_URLCONF"}


def _problem(key: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"REDTRUST['{key}']", problem)


def _route_paths() -> dict[str, str]:
    try:
        return {
            "login_path": reverse("redtrust:login"),
            "callback_path": reverse("redtrust:callback"),
            "logout_path": reverse("redtrust:logout"),
        }
    except NoReverseMatch:
        raise ConfigurationError(
            "urls", 'add path("redtrust/", include("redtrust_django.urls")) to your URLconf'
        ) from None


def _secret_keys() -> tuple[str, ...]:
    """Encryption keys derived from ``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS`` (rotation:
    the first seals, all open). Hashed with a label, so they differ from Django's own uses."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return tuple(
        hashlib.sha256(b"redtrust-django/v1:" + str(s).encode()).hexdigest() for s in secrets if s
    )


def read_settings() -> tuple[RedtrustConfig, dict[str, Any]]:
    """The core config and the adapter options from ``settings.REDTRUST``.

    Raises:
        ConfigurationError: naming the ``REDTRUST`` key at fault.
    """
    raw = getattr(settings, "REDTRUST", None)
    if not isinstance(raw, Mapping):
        raise ConfigurationError("REDTRUST", "must be a dict setting (see the README)")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _DERIVED:
            raise _problem(key, "comes from where redtrust_django.urls is included")
        if key not in _CONFIG_FIELDS and key not in _ADAPTER_KEYS:
            raise _problem(key, "is not a Redtrust setting")
        if key in _CONFIG_FIELDS:
            values[_CONFIG_FIELDS[key]] = value
    for key in ("SERVER_URL", "PARTNER", "SHARED_SECRET", "PUBLIC_URL"):
        if not raw.get(key):
            raise _problem(key, "is required")
    for key in ("ENCRYPTION_KEYS", "ALLOWED_NEXT_ORIGINS", "JWT_ALGORITHMS"):
        if key in raw:
            if isinstance(raw[key], str) or not isinstance(raw[key], list | tuple):
                raise _problem(key, "must be a list of strings")
            values[_CONFIG_FIELDS[key]] = tuple(raw[key])
    values.setdefault("encryption_keys", _secret_keys())
    endpoints = raw.get("ENDPOINTS", {})
    if not isinstance(endpoints, Mapping):
        raise _problem("ENDPOINTS", 'must map names to "METHOD /path"')
    profile = values.get("profile", "certificate-enroll")
    profile = PROFILES.get(profile, profile) if isinstance(profile, str) else profile
    paths = _route_paths()  # raises ConfigurationError('urls', ...) as it is
    try:
        if endpoints:
            overrides = {name: Endpoint.parse(str(text)) for name, text in endpoints.items()}
            values["profile"] = dataclasses.replace(profile, **overrides)
        values.update(paths)
        config = RedtrustConfig(**values)
    except ConfigurationError as error:
        key = error.field.upper() if error.field.upper() in _CONFIG_FIELDS else error.field
        raise _problem(key, error.problem) from None
    except (TypeError, AttributeError) as error:
        raise _problem("ENDPOINTS", f"invalid: {error}") from None
    prefixes = raw.get("API_PREFIXES", ("/api/",))
    if isinstance(prefixes, str) or not all(isinstance(p, str) for p in prefixes):
        raise _problem("API_PREFIXES", "must be a list of path prefixes")
    cache = raw.get("CACHE", "default")
    if not isinstance(cache, str) or cache not in settings.CACHES:
        raise _problem("CACHE", "must name a cache in CACHES")
    return config, {"api_prefixes": tuple(prefixes), "cache": cache}


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
                gate=Gate(config, api_prefixes=options["api_prefixes"]),
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
