"""The injected clock: every time-dependent decision takes ``now`` from one of these."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock", "to_datetime"]

#: A clock returns the current UNIX time in seconds (``time.time`` is the default).
Clock = Callable[[], float]


#: The real wall clock: ``time.time`` itself, so that reading it is no Python call (the
#: per-request path reads it more than once).
system_clock: Clock = time.time


def to_datetime(timestamp: float) -> datetime:
    """An aware UTC ``datetime`` for a UNIX timestamp."""
    return datetime.fromtimestamp(timestamp, tz=UTC)
