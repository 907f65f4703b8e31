"""``python -m benchmarks``: the Starlette/ASGI benchmark (see :mod:`benchmarks.bench_asgi`)."""

from __future__ import annotations

import sys

from benchmarks.bench_asgi import main

sys.exit(main())
