"""The targets ``make bench`` checks, each printed beside the figure measured for it.

Every benchmark section returns :class:`Target` rows; :func:`report` prints them in one table
and tells whether all were met, so a run's verdict is one line and a regression cannot hide
inside a wall of numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Spread", "Target", "report", "spread"]


@dataclass(frozen=True, slots=True)
class Spread:
    """The min, median and max of one figure over a run's rounds."""

    low: float
    median: float
    high: float

    def format(self, unit: str = "", digits: int = 2) -> str:
        """``median (min-max) unit``."""
        u, d = (f" {unit}" if unit else ""), digits
        return f"{self.median:.{d}f}{u} (min {self.low:.{d}f}, max {self.high:.{d}f})"


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of ``values`` (at least one)."""
    return Spread(min(values), statistics.median(values), max(values))


@dataclass(frozen=True, slots=True)
class Target:
    """One performance target beside the figure measured for it.

    ``met`` is decided on the median (``figure.median``) unless the section says otherwise;
    ``figure_text`` is how the figure is shown (with its spread and unit).
    """

    section: str
    goal: str
    figure_text: str
    met: bool


def report(targets: Iterable[Target]) -> bool:
    """Print every target beside its figure; True when all are met."""
    rows = list(targets)
    width = max((len(t.goal) for t in rows), default=10)
    section = None
    for t in rows:
        if t.section != section:
            section = t.section
            print(f"\n== {section}")
        mark = "met" if t.met else "NOT MET"
        print(f"  {t.goal:<{width}}  {t.figure_text}  [{mark}]")
    verdict = all(t.met for t in rows)
    print(f"\n{sum(t.met for t in rows)}/{len(rows)} targets met")
    return verdict
