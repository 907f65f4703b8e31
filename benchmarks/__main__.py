"""``python -m benchmarks``: the Starlette/ASGI benchmark (see :mod:`benchmarks.bench_asgi`).

``python -m benchmarks store`` runs the store benchmark instead (RedisStore next to
MemoryStore, see :mod:`benchmarks.bench_store`), ``python -m benchmarks memory`` the full
memory store one (logins per second, empty and full, see :mod:`benchmarks.bench_memory`);
``python -m benchmarks faults`` the refresh-deadline experiment (see
:mod:`benchmarks.bench_faults`); ``python -m benchmarks otel`` what the OpenTelemetry
instrumentation adds to the hot path (see :mod:`benchmarks.bench_otel`).
"""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["store"]:
    from benchmarks.bench_store import main

    sys.exit(main(sys.argv[2:]))
if sys.argv[1:2] == ["faults"]:
    from benchmarks.bench_faults import main as faults_main

    sys.exit(faults_main(sys.argv[2:]))

if sys.argv[1:2] == ["otel"]:
    from benchmarks.bench_otel import main as otel_main

    sys.exit(otel_main(sys.argv[2:]))

if sys.argv[1:2] == ["memory"]:
    from benchmarks.bench_memory import main as memory_main

    sys.exit(memory_main(sys.argv[2:]))

from benchmarks.bench_asgi import main

sys.exit(main())
