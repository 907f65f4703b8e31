"""The ``REDTRUST_*`` keys of ``app.config``, read by the core's collecting reader.

A key is the setting's environment variable (``REDTRUST_PUBLIC_URL``, ``REDTRUST_TIMEOUT``,
``REDTRUST_JWKS_FILE``, ``REDTRUST_ENDPOINT_<NAME>``: the table is
:data:`redtrust_middleware.config.SETTINGS`), so the same names work in a settings file and,
copied over (``app.config.from_mapping(os.environ)``), in the environment. A value is either
text, read as the environment variable would be (``"2.5"``, ``"a,b"``, ``"true"``), or a
Python value (``2.5``, ``["a", "b"]``, ``True``), read as Django's ``REDTRUST`` dict is.
Every mistake is found at once: the error names the first and lists the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware._settings import read_values
from redtrust_middleware.config import (
    CERTIFICATE_ENROLL,
    SETTINGS,
    ConfigProblem,
    Profile,
    Source,
    collect_config,
    combined_error,
    read_endpoints,
    read_mapping,
)
from redtrust_middleware.stores import derive_keys

__all__ = ["API_PREFIXES_KEY", "label", "read_app_config", "relabel"]

#: The one key that belongs to the extension, not to :class:`RedtrustConfig`.
API_PREFIXES_KEY = "REDTRUST_API_PREFIXES"
#: ``app.config`` holding Python values, and holding environment text.
SOURCE = Source(
    key="{variable}", label="app.config[{key!r}]", example="app.config[{key!r}] = {python}"
)
_TEXT = Source(
    key="{variable}",
    label="app.config[{key!r}]",
    example="app.config[{key!r}] = {text!r}",
    text=True,
)
#: Required by the extension too: the middleware builds its redirect URL from it.
_REQUIRED = {"public_url"}
_ENDPOINTS = {f"REDTRUST_ENDPOINT_{name.upper()}": name for name in Profile.ENDPOINTS}


def label(key: str) -> str:
    """How an error names a key: ``app.config['REDTRUST_TIMEOUT']``."""
    return SOURCE.name(key)


def _endpoint(name: str) -> str:
    return label(f"REDTRUST_ENDPOINT_{name.upper()}")


def _variable(problem: ConfigProblem) -> ConfigProblem:
    # The key is its own environment variable: the error names both places it may be set.
    variable = problem.setting.variable if problem.setting is not None else None
    if variable is None and problem.name.startswith("app.config['REDTRUST_"):
        variable = problem.name[len("app.config['") : -len("']")]
    return dataclasses.replace(problem, variable=variable)


def _api_prefixes(value: object, problems: list[ConfigProblem]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(p, str) for p in value):
        return tuple(value)
    problems.append(
        ConfigProblem(
            name=label(API_PREFIXES_KEY),
            problem="must be a list of path prefixes",
            fix=f"for example {label(API_PREFIXES_KEY)} = ['/api/'] (or the environment text "
            "/api/,/internal/api/)",
        )
    )
    return ("/api/",)


def read_app_config(
    values: Mapping[str, Any], config: RedtrustConfig | None = None
) -> tuple[RedtrustConfig, tuple[str, ...]]:
    """The :class:`RedtrustConfig` of an app's ``REDTRUST_*`` keys (``config`` when given:
    then only the extension's own keys are read) and its API path prefixes.

    Raises:
        ConfigurationError: naming ``app.config['REDTRUST_<FIELD>']`` and its environment
            variable, what the value must be and an example (never the value itself); its
            message lists every other mistake found.
    """
    given = {key: value for key, value in values.items() if key.startswith("REDTRUST_")}
    problems: list[ConfigProblem] = []
    if config is None:
        texts = [s for s in SETTINGS if isinstance(given.get(s.variable), str)]
        read, problems = read_mapping(
            given,
            SOURCE,
            skip={setting.name for setting in texts},
            required=_REQUIRED,
            own={API_PREFIXES_KEY, *_ENDPOINTS, *(setting.variable for setting in texts)},
        )
        # Text is read as the environment variable would be (an empty one is unset).
        from_text, wrong = read_values(texts, given, _TEXT, required=_REQUIRED)
        read.update(from_text)
        # As Django's face does: keys from the app's secret key, its fallbacks opening older
        # sessions (Flask 3.1's SECRET_KEY_FALLBACKS), unless REDTRUST_ENCRYPTION_KEYS is set.
        fallbacks = values.get("SECRET_KEY_FALLBACKS") or ()
        derived = derive_keys([values.get("SECRET_KEY"), *fallbacks], "redtrust-flask/v1")
        if derived:
            read.setdefault("encryption_keys", derived)
        problems += wrong
        endpoints, wrong = read_endpoints(
            {name: given[key] for key, name in _ENDPOINTS.items() if key in given},
            name=_endpoint,
            example=lambda name, endpoint: f"{_endpoint(name)} = {str(endpoint)!r}",
        )
        problems += wrong
        profile = read.get("profile", CERTIFICATE_ENROLL)
        read["profile"] = dataclasses.replace(profile, **endpoints)
        # Only refused settings decide whether a config can be built (an unknown key does not).
        refused = [problem for problem in problems if problem.setting is not None]
        collected = collect_config(read, refused, source=SOURCE)
        problems += collected.problems[len(refused) :]
        config = collected.config
    prefixes = _api_prefixes(given.get(API_PREFIXES_KEY, ("/api/",)), problems)
    if problems or config is None:
        raise combined_error([_variable(problem) for problem in problems])
    return config, prefixes


def relabel(error: ConfigurationError) -> ConfigurationError:
    """``error`` (naming a field or its variable) naming the ``app.config`` key instead."""
    by_name = {setting.name: setting.variable for setting in SETTINGS}
    key = by_name.get(error.field, error.field)
    return ConfigurationError(label(key), error.problem, variable=key)
