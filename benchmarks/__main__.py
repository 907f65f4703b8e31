"""``python -m benchmarks``: the Starlette/ASGI benchmark (see :mod:`benchmarks.bench_asgi`).

``python -m benchmarks store`` runs the store benchmark instead (RedisStore next to
MemoryStore, see :mod:`benchmarks.bench_store`).
"""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["store"]:
    from benchmarks.bench_store import main

    sys.exit(main(sys.argv[2:]))

from benchmarks.bench_asgi import main

sys.exit(main())
