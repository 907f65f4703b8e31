"""``make bench``: every section of the performance targets in one run, each target printed
beside its figure (:func:`benchmarks.targets.report`).

Sections, in order:

1. ASGI in-process, Starlette (:mod:`benchmarks.bench_asgi`): bare, ``SessionMiddleware``,
   ours with one session and with many (100,000) round-robin, interleaved rounds;
2. over sockets (the same module): bare and ours on uvicorn h11 and httptools + uvloop, wrk;
3. Django (``benchmarks.bench_django.targets()``) and the Redis client-side cache
   (``benchmarks.bench_tracking.targets()``), each in a process of its own (Django configures
   itself globally; the cache starts its own redis-server), when the module offers them;
4. the refresh storm, Authlib beside ours (:mod:`benchmarks.bench_storm`).

Every ratio is computed within each round and shown as median (min, max). The run writes
``bench.json`` (every figure and target), ``bench.md`` (the targets as a Markdown table,
for README.md) and PNG plots (:mod:`benchmarks.plots`) to
``benchmarks/results/`` (``--quick``: ``benchmarks/results/quick/``, so a smoke run never
replaces a full run's figures). Exit status 1 when a target is not met, after printing all.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import inspect
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import bench_asgi
from benchmarks.targets import Target, report

__all__ = ["CHILD_SECTIONS", "main", "section_in_child"]

ROOT = Path(__file__).resolve().parent.parent
#: The sections other modules provide: name -> (module, section title when it is missing).
CHILD_SECTIONS = {
    "django": ("benchmarks.bench_django", "Django (cache engine), in-process"),
    "tracking": ("benchmarks.bench_tracking", "Redis client-side cache (CLIENT TRACKING)"),
}
_MARK = "@@bench-targets@@"


def section_in_child(name: str, quick: bool) -> list[Target]:
    """Run ``targets()`` of the section's module (in this process); its rows.

    A module without ``targets()`` (not merged yet) or whose ``targets()`` fails gives one
    row saying so, not met: a section that did not run is not a section that passed.
    """
    module_name, title = CHILD_SECTIONS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return [Target(title, "section measured", f"not measured: {error}", False)]
    function: Callable[..., Sequence[Target]] | None = getattr(module, "targets", None)
    if function is None:
        return [Target(title, "section measured", f"not measured: {module_name}.targets()", False)]
    kwargs = {"quick": quick} if "quick" in inspect.signature(function).parameters else {}
    return list(function(**kwargs))


def _child_main(name: str, quick: bool) -> int:
    """``python -m benchmarks.suite --child NAME``: the section's rows as JSON on stdout (the
    section's own output goes to stderr)."""
    title = CHILD_SECTIONS[name][1]
    with contextlib.redirect_stdout(sys.stderr):
        try:
            rows = section_in_child(name, quick)
        except Exception as error:  # reported as a row: the run goes on
            rows = [Target(title, "section measured", f"failed: {error!r}"[:300], False)]
    print(_MARK + json.dumps([asdict(row) for row in rows]))
    return 0


def run_child(name: str, quick: bool, log: Callable[[str], None], timeout: float) -> list[Target]:
    """The section ``name`` in a process of its own; its rows."""
    title = CHILD_SECTIONS[name][1]
    command = [sys.executable, "-m", "benchmarks.suite", "--child", name]
    if quick:
        command.append("--quick")
    try:
        done = subprocess.run(
            command, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return [Target(title, "section measured", f"did not finish within {timeout:.0f} s", False)]
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(_MARK):
            return [Target(**row) for row in json.loads(line[len(_MARK) :])]
    log(f"{name}: no result (exit status {done.returncode})")
    return [Target(title, "section measured", f"exit status {done.returncode}", False)]


def markdown(found: Sequence[Target], data: dict[str, Any]) -> str:
    """The targets as a Markdown table (README.md's performance section takes it as is)."""
    env = data["environment"]
    lines = [
        f"Run of {data['when']} ({env['cpus']} CPUs, Python {env['python']}, commit "
        f"{env['commit'][:10]}{' + changes' if env['dirty'] else ''}, {data['seconds']:.0f} s"
        f"{', quick: not a measurement' if data['quick'] else ''}); median (min, max) over "
        "the rounds.",
        "",
        "| Section | Target | Figure | Met |",
        "| --- | --- | --- | --- |",
    ]
    for t in found:
        cells = (t.section, t.goal, t.figure_text, "yes" if t.met else "**no**")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="a short run (structure, not speed)")
    bench_asgi.add_arguments(parser)
    parser.add_argument("--storm-requests", type=int, default=1000, help="requests per storm")
    parser.add_argument("--storm-rounds", type=int, help="storms per side (default 3, quick 1)")
    parser.add_argument("--no-storm", action="store_true", help="skip the refresh storm")
    parser.add_argument(
        "--no-child",
        action="append",
        default=[],
        choices=sorted(CHILD_SECTIONS),
        help="skip a section of another module (repeatable)",
    )
    parser.add_argument("--child-timeout", type=float, default=300, help="seconds per section")
    parser.add_argument("--output-dir", type=Path, help="where bench.json and the PNGs go")
    parser.add_argument("--no-plots", action="store_true", help="no PNGs")
    parser.add_argument("--child", choices=sorted(CHILD_SECTIONS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None:
        bench_asgi.settle_arguments(parser, args)
        args.storm_rounds = args.storm_rounds or (1 if args.quick else 3)
        if args.storm_requests < 1 or args.storm_rounds < 1:
            parser.error("need at least one storm request and one storm round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Every section, then every target beside its figure; 0 when all are met."""
    args = parse_args(argv)
    if args.child is not None:
        return _child_main(args.child, args.quick)
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench {time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    found: list[Target] = []
    data: dict[str, Any] = {}
    inproc, sockets = bench_asgi.run(args, log)
    if inproc is not None or sockets is not None:
        print()
        print(bench_asgi.render(inproc, sockets))
        print()
        print(bench_asgi.facts(inproc, sockets))
        found += bench_asgi.section_targets(inproc, sockets)
        data.update(bench_asgi.record(inproc, sockets))
    for name in CHILD_SECTIONS:
        if name in args.no_child:
            continue
        log(f"{name}: running {CHILD_SECTIONS[name][0]}.targets() in its own process")
        found += run_child(name, args.quick, log, args.child_timeout)
    if not args.no_storm:
        from benchmarks import bench_storm

        storms = bench_storm.run_storms(args.storm_requests, args.storm_rounds, log)
        found += bench_storm.targets(storms)
        data["storm"] = bench_storm.record(storms)

    seconds = time.monotonic() - began
    now = dt.datetime.now(dt.UTC)
    folder = args.output_dir or (bench_asgi.RESULTS / "quick" if args.quick else bench_asgi.RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "make bench",
        "when": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": round(seconds, 1),
        # Linux reports kilobytes: the many-sessions store and memos dominate it.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "environment": bench_asgi.environment(),
        "targets": [asdict(t) for t in found],
        **data,
    }
    (folder / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    (folder / "bench.md").write_text(markdown(found, data))
    written = ["bench.json", "bench.md"]
    if not args.no_plots:
        from benchmarks import plots

        written += [path.name for path in plots.write_all(data, folder)]
    met = report(found)
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    print(f"\nwritten to {shown}/: {', '.join(written)}")
    print(f"the run took {seconds:.0f} s; peak memory of this process {data['peak_rss_mb']} MB")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
