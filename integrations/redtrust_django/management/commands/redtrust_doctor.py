"""``manage.py redtrust_doctor``: ``redtrust doctor`` on Django's ``REDTRUST`` setting.

The checks are the core's (:mod:`redtrust_middleware.doctor`); this command only reads the
setting, names keys as ``REDTRUST['KEY']`` in the advice, and finds the Redis of the lock
cache.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from redtrust_middleware.config import SETTINGS
from redtrust_middleware.doctor import Finding, run_checks

from ...conf import SOURCE, Reading, inspect_settings

_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def _cache_redis_url(alias: str) -> str | None:
    """The first server of the lock cache when it is Django's Redis cache."""
    cache = settings.CACHES.get(alias, {})
    if cache.get("BACKEND") != _REDIS_CACHE:
        return None
    location = cache.get("LOCATION")
    if isinstance(location, list | tuple):
        location = location[0] if location else None
    return location if isinstance(location, str) else None


def _settings_findings(reading: Reading) -> list[Finding]:
    found = [
        Finding(
            check="settings",
            status="fail",
            message=f"{problem.name}: {problem.problem}",
            fix=problem.fix,
        )
        for problem in reading.problems
    ]
    return found or [Finding(check="settings", status="ok", message="REDTRUST is valid")]


class Command(BaseCommand):
    """Check everything a deployment needs, from the ``REDTRUST`` setting."""

    help = (
        "Check the REDTRUST setting (every problem at once), PUBLIC_URL, the connection and "
        "TLS to Redtrust, one signed request, the clock, the JWK set and the lock cache's "
        "Redis. Exit status 1 when a check fails."
    )
    # The doctor reports the settings itself, all of them, instead of stopping at the checks.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--redis-url",
            help="a Redis to check (default: the lock cache's, when it is RedisCache)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reading = inspect_settings()
        report = run_checks(
            reading.config,
            settings=_settings_findings(reading),
            broken={problem.field for problem in reading.problems},
            names={s.name: SOURCE.name(SOURCE.key_of(s)) for s in SETTINGS},
            production=not settings.DEBUG,
            redis_url=options["redis_url"] or _cache_redis_url(reading.options.get("cache", "")),
        )
        self.stdout.write("\n".join(report.lines()))
        if report.failed:
            raise CommandError("a check failed (see above)", returncode=1)
