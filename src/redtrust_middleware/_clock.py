"""The injected clock: every time-dependent decision takes ``now`` from one of these."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock", "to_datetime"]

#: A clock returns the current UNIX time in seconds (``time.time`` is the default).
Clock = Callable[[], float]


def system_clock() -> float:
    """The real wall clock."""
    return time.time()


def to_datetime(timestamp: float) -> datetime:
    """An aware UTC ``datetime`` for a UNIX timestamp."""
    return datetime.fromtimestamp(timestamp, tz=UTC)
