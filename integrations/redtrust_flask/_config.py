"""The ``REDTRUST_*`` keys of ``app.config``, read through the core's settings table.

A key is the setting's environment variable (``REDTRUST_PUBLIC_URL``, ``REDTRUST_TIMEOUT``,
``REDTRUST_JWKS_FILE``, ``REDTRUST_ENDPOINT_<NAME>``: the table is
:data:`redtrust_middleware.config.SETTINGS`), so the same names work in a settings file and,
copied over (``app.config.from_mapping(os.environ)``), in the environment. A value is either
text, read as the environment variable would be (``"2.5"``, ``"a,b"``, ``"true"``), or a
Python value (``2.5``, ``["a", "b"]``, ``True``), read as Django's ``REDTRUST`` dict is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware._settings import close_match
from redtrust_middleware.config import SETTINGS, Profile

__all__ = ["API_PREFIXES_KEY", "config_from_app", "label", "relabel"]

#: The one key that belongs to the extension, not to :class:`RedtrustConfig`.
API_PREFIXES_KEY = "REDTRUST_API_PREFIXES"
_BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}
_ENDPOINTS = {f"REDTRUST_ENDPOINT_{name.upper()}" for name in Profile.ENDPOINTS}
_KNOWN = {*_BY_VARIABLE, *_ENDPOINTS, API_PREFIXES_KEY}


def label(key: str) -> str:
    """How an error names a key: ``app.config['REDTRUST_TIMEOUT']``."""
    return f"app.config[{key!r}]"


def _problem(key: str, problem: str) -> ConfigurationError:
    # The variable is the key itself: the error names both places the value may come from.
    return ConfigurationError(label(key), problem, variable=key)


def config_from_app(values: Mapping[str, Any]) -> RedtrustConfig:
    """The :class:`RedtrustConfig` of an app's ``REDTRUST_*`` keys (no others are read).

    Raises:
        ConfigurationError: naming ``app.config['REDTRUST_<FIELD>']`` and its environment
            variable, what the value must be and an example (never the value itself).
    """
    given = {key: value for key, value in values.items() if key.startswith("REDTRUST_")}
    text: dict[str, str] = {}
    python: dict[str, Any] = {}
    for key, value in given.items():
        if key not in _KNOWN:
            raise _problem(key, f"is not a Redtrust setting{close_match(key, _KNOWN)}")
        setting = _BY_VARIABLE.get(key)
        if key == API_PREFIXES_KEY:
            continue  # the extension's own, read by init_app
        if isinstance(value, str) or setting is None:
            if not isinstance(value, str):  # an endpoint
                raise _problem(key, 'must be text "METHOD /path"')
            text[key] = value
            continue
        try:
            python[setting.name] = setting.kind.accept(value)
        except (TypeError, ValueError):
            must = setting.kind.python_must or setting.kind.must
            raise _problem(
                key, f"{must}; for example {label(key)} = {setting.python_example}"
            ) from None
    try:
        return RedtrustConfig.from_env(text, **python)
    except ConfigurationError as error:
        raise relabel(error) from None


def relabel(error: ConfigurationError) -> ConfigurationError:
    """``error`` (naming a field or its variable) naming the ``app.config`` key instead."""
    by_name = {setting.name: setting.variable for setting in SETTINGS}
    key = by_name.get(error.field, error.field)
    return _problem(key, error.problem)
