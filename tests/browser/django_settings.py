"""The example Django site's settings, with the ``Referrer-Policy`` the browser suite varies.

``BROWSER_REFERRER_POLICY`` becomes ``SECURE_REFERRER_POLICY`` (Django's default,
``same-origin``, when unset): a host site that sends ``no-referrer`` on its pages.
"""

from __future__ import annotations

import os

from examples.django_site.settings import *  # noqa: F403

SECURE_REFERRER_POLICY = os.environ.get("BROWSER_REFERRER_POLICY") or "same-origin"
