"""``python -m redtrust_middleware.sandbox``: see :mod:`redtrust_middleware.sandbox.cli`."""

from __future__ import annotations

from .cli import main

raise SystemExit(main(prog="python -m redtrust_middleware.sandbox"))
