"""The checks of a deployment, written once for ``redtrust doctor`` and ``manage.py
redtrust_doctor``: the settings (every problem at once), ``PUBLIC_URL``, the connection and
TLS, the signature, the clock, Redis and the JWK set.

Each check gives :class:`Finding` values: ``ok``, ``warn`` or ``fail`` with the cause and the
fix (a ``skip`` says a check could not run because an earlier one failed). The front-ends only
read their settings and print a :class:`Report`; its exit code is non-zero on any failure.

The settings are read by the config layer (:func:`redtrust_middleware.config.read_environment`
and :func:`~redtrust_middleware.config.read_mapping` find every problem at once); the checks
live in one module per area: ``_network`` (``PUBLIC_URL``, TCP, TLS), ``_signature`` (the signed
request and the clock), ``_jwks``, ``_redis``, and ``_report`` (findings and their text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .._clock import Clock, system_clock
from ..config import SETTINGS, RedtrustConfig
from ._jwks import check_jwks
from ._network import check_connection, check_public_url
from ._redis import REDIS_MIN_VERSION, REDIS_URL_ENV, check_redis
from ._report import Finding, Report, settings_findings
from ._signature import CLOCK_FAIL_SECONDS, CLOCK_WARN_SECONDS, check_signature

__all__ = [
    "CLOCK_FAIL_SECONDS",
    "CLOCK_WARN_SECONDS",
    "REDIS_MIN_VERSION",
    "REDIS_URL_ENV",
    "Finding",
    "Report",
    "check_redis",
    "run_checks",
    "settings_findings",
]

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def run_checks(
    config: RedtrustConfig | None,
    *,
    settings: Sequence[Finding] = (),
    broken: Collection[str] = (),
    names: Mapping[str, str] | None = None,
    production: bool = True,
    redis_url: str | None = None,
    redis_prefix: str = "",
    clock: Clock = system_clock,
    transport: Any = None,
) -> Report:
    """Every check of a deployment, after the ``settings`` findings.

    Args:
        config: the config read (None when a required setting is missing or invalid: the
            checks needing it are skipped).
        settings: the findings of reading the settings, shown first.
        broken: the fields whose values were refused (their checks are not repeated).
        names: how the front-end names a setting in its advice, by field name
            (``{"public_url": "REDTRUST['PUBLIC_URL']"}``); the environment variable otherwise.
        production: https is required for a ``PUBLIC_URL`` that is not loopback.
        redis_url: the Redis the store (or the lock cache) uses, to check.
        clock: this machine's clock, compared with the server's ``Date``.
        transport: an HTTP transport for the signed request (tests); the TCP and TLS checks
            always open a real connection.
    """
    findings = list(settings)
    if config is None:
        findings.append(
            Finding(check="server", status="skip", message="not checked: fix the settings first")
        )
    else:
        named = dict(names or {})

        def name(field: str) -> str:
            return named.get(field) or _BY_NAME[field].variable

        if "public_url" not in broken:
            findings += check_public_url(config, name, production)
        reached = transport is not None or check_connection(config, name, findings)
        if reached:
            findings += check_signature(config, name, clock, transport)
        else:
            findings.append(
                Finding(
                    check="signature",
                    status="skip",
                    message="not checked: the connection failed",
                )
            )
        if "jwks" not in broken:
            findings += check_jwks(config, name)
    if redis_url is not None:
        findings += check_redis(redis_url, prefix=redis_prefix)
    return Report(tuple(findings))
