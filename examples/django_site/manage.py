#!/usr/bin/env python
"""The example Django site: ``python examples/django_site/manage.py runserver 127.0.0.1:8000``.

Configured by the ``REDTRUST_*`` environment variables (defaults: the local sandbox of
``redtrust sandbox``). ``runserver`` applies the migrations first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's root
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_site.settings")
    from django.core.management import call_command, execute_from_command_line

    if sys.argv[1:2] == ["runserver"] and os.environ.get("RUN_MAIN") != "true":
        import django

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
