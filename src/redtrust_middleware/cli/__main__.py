"""``python -m redtrust_middleware.cli``: the ``redtrust`` command."""

from . import main

raise SystemExit(main())
