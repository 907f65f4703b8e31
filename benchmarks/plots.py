"""PNG plots of a ``make bench`` run, drawn from its ``bench.json`` (matplotlib, Agg).

* ``added-us.png``: what each variant adds to the bare Starlette endpoint in-process (median
  bar, min-max whisker), the 2 µs target drawn;
* ``ratios.png``: the ratios the targets are about, each with its target line: ours over
  ``SessionMiddleware``'s added cost, many sessions over one, requests/s over the bare app's
  on each uvicorn server;
* ``sockets.png``: requests/s of each server (median, min-max);
* ``storm.png``: refresh grants and failed requests per 1,000, Authlib beside ours.

``python -m benchmarks.plots benchmarks/results/bench.json`` draws them again from a run.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # after choosing the backend

__all__ = ["write_all"]

_LABELS = {
    "session": "SessionMiddleware",
    "floor": "floor (cookie, scope, Vary)",
    "redtrust": "ours, 1 session",
    "redtrust-nocookie": "ours, no cookie",
    "redtrust-many": "ours, many sessions",
}


def _whiskers(values: Sequence[Sequence[float]]) -> tuple[list[float], list[list[float]]]:
    """Medians and matplotlib's ``yerr`` (distances to min and max) of each series."""
    medians = [statistics.median(v) for v in values]
    low = [m - min(v) for m, v in zip(medians, values, strict=True)]
    high = [max(v) - m for m, v in zip(medians, values, strict=True)]
    return medians, [low, high]


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` and free it."""
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _title(data: dict[str, Any]) -> str:
    env = data.get("environment", {})
    quick = " (quick run: not a measurement)" if data.get("quick") else ""
    cpus, python = env.get("cpus", "?"), env.get("python", "?")
    return f"{data.get('when', '')}, {cpus} CPUs, Python {python}{quick}"


def added_us(data: dict[str, Any], folder: Path) -> Path | None:
    """The in-process added cost per variant."""
    inproc = data.get("in_process")
    if not inproc:
        return None
    bare = inproc["rounds_us"]["bare"]
    names = [n for n in _LABELS if n in inproc["rounds_us"]]
    series = [[v - b for v, b in zip(inproc["rounds_us"][n], bare, strict=True)] for n in names]
    medians, err = _whiskers(series)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([_LABELS[n] for n in names], medians, yerr=err, capsize=5, color="#4c72b0")
    ax.axhline(2.0, color="#c44e52", linestyle="--", label="target for ours: 2 µs")
    ax.set_ylabel("µs added to a bare Starlette request")
    ax.set_title("In-process added cost (median, min-max over rounds)", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(_title(data), fontsize=7, y=0.99)
    fig.tight_layout()
    return _save(fig, folder / "added-us.png")


def ratios(data: dict[str, Any], folder: Path) -> Path | None:
    """Each target's ratio with its target line."""
    panels: list[tuple[str, list[float], float, str]] = []
    inproc = data.get("in_process_ratios") or {}
    if inproc.get("redtrust_over_session"):
        panels.append(
            ("ours / SessionMiddleware\n(added cost)", inproc["redtrust_over_session"], 0.15, "<=")
        )
    if inproc.get("many_over_one"):
        sessions = (data.get("in_process") or {}).get("sessions", 0)
        panels.append(
            (f"{sessions:,} sessions / 1\n(added cost)", inproc["many_over_one"], 2.0, "<=")
        )
    for kind, values in (data.get("socket_ratios") or {}).items():
        if values:
            target = 0.93 if kind == "httptools+uvloop" else float("nan")
            panels.append((f"{kind}\nreq/s ours / bare", values, target, ">="))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.8), squeeze=False)
    for ax, (label, values, target, sense) in zip(axes[0], panels, strict=True):
        medians, err = _whiskers([values])
        ax.bar([0], medians, yerr=err, capsize=6, color="#55a868", width=0.5)
        if target == target:  # not NaN: this ratio has a target
            ax.axhline(target, color="#c44e52", linestyle="--", label=f"target {sense} {target:g}")
            ax.legend(fontsize=7)
        ax.set_xticks([0], [label], fontsize=8)
        ax.set_xlim(-0.8, 0.8)
        ax.set_ylim(bottom=0)
    fig.suptitle("Ratios (median, min-max over rounds)\n" + _title(data), fontsize=8)
    fig.tight_layout()
    return _save(fig, folder / "ratios.png")


def sockets(data: dict[str, Any], folder: Path) -> Path | None:
    """Requests/s of each server over sockets."""
    result = data.get("sockets")
    if not result:
        return None
    keys = list(result["rounds_rps"])
    medians, err = _whiskers([result["rounds_rps"][k] for k in keys])
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ["#8c8c8c" if k.endswith("/bare") else "#4c72b0" for k in keys]
    ax.bar([k.replace("/", "\n") for k in keys], medians, yerr=err, capsize=5, color=colors)
    ax.set_ylabel("requests/s (uvicorn, 1 worker, wrk)")
    ax.set_title("Over sockets (median, min-max over rounds)", fontsize=10)
    fig.suptitle(_title(data), fontsize=7, y=0.99)
    fig.tight_layout()
    return _save(fig, folder / "sockets.png")


def storm(data: dict[str, Any], folder: Path) -> Path | None:
    """Refresh grants and failed requests, Authlib beside ours."""
    result = data.get("storm")
    if not result or not result.get("ours") or not result.get("authlib"):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.8))
    for ax, what, title in zip(
        axes, ("refresh_grants", "failed"), ("refresh grants", "failed requests"), strict=True
    ):
        series = [[r[what] for r in result[side]] for side in ("authlib", "ours")]
        medians, err = _whiskers(series)
        bars = ax.bar(
            ["Authlib", "ours"], medians, yerr=err, capsize=6, color=["#c44e52", "#4c72b0"]
        )
        ax.bar_label(bars, labels=[f"{m:g}" for m in medians], fontsize=8)
        ax.set_title(f"{title} per {result['requests']:,}", fontsize=9)
        ax.set_ylim(0, max(result["requests"] * 1.1, 1))
    fig.suptitle("Refresh storm: one session, token due, all at once\n" + _title(data), fontsize=8)
    fig.tight_layout()
    return _save(fig, folder / "storm.png")


def write_all(data: dict[str, Any], folder: Path) -> list[Path]:
    """Every plot ``data`` has figures for, into ``folder``; the files written."""
    written = [plot(data, folder) for plot in (added_us, ratios, sockets, storm)]
    return [path for path in written if path is not None]


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/bench.json")
    for written_path in write_all(json.loads(source.read_text()), source.parent):
        print(written_path)
