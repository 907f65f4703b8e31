"""``python -m benchmarks`` (``make bench``): every section of the performance targets in one
run, each target printed beside its figure (see :mod:`benchmarks.suite`).

A first argument naming one benchmark runs that one alone: ``asgi`` (the Starlette/ASGI
benchmark, :mod:`benchmarks.bench_asgi`), ``storm`` (the refresh storm, Authlib beside ours,
:mod:`benchmarks.bench_storm`), ``store`` (RedisStore next to MemoryStore,
:mod:`benchmarks.bench_store`), ``memory`` (the full memory store: logins per second, empty
and full, :mod:`benchmarks.bench_memory`), ``faults`` (the refresh-deadline experiment,
:mod:`benchmarks.bench_faults`), ``otel`` (what the OpenTelemetry instrumentation adds to the
hot path, :mod:`benchmarks.bench_otel`).
"""

from __future__ import annotations

import importlib
import sys

_ALONE = {
    "asgi": "benchmarks.bench_asgi",
    "storm": "benchmarks.bench_storm",
    "store": "benchmarks.bench_store",
    "memory": "benchmarks.bench_memory",
    "faults": "benchmarks.bench_faults",
    "otel": "benchmarks.bench_otel",
}

if sys.argv[1:2] and sys.argv[1] in _ALONE:
    sys.exit(importlib.import_module(_ALONE[sys.argv[1]]).main(sys.argv[2:]))

from benchmarks.suite import main  # noqa: E402 - only when no single benchmark was named

sys.exit(main(sys.argv[1:]))
