"""The Django app: registers the system checks, connects Django's sign-in to Redtrust's
(``RedtrustBackend``) and Django's logout to the end of the Redtrust session, and keeps the
callback's ``tkn`` out of ``runserver``'s access log (``django.server``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class RedtrustDjangoConfig(AppConfig):
    """``INSTALLED_APPS += ["redtrust_django"]``."""

    name = "redtrust_django"
    label = "redtrust"
    verbose_name = "Redtrust sign-in"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from redtrust_middleware.logfilter import redact_access_logs

        from . import _logout, _users, signals
        from . import checks as redtrust_checks

        redact_access_logs(["django.server"])
        checks.register(redtrust_checks.check_settings, checks.Tags.security)
        checks.register(redtrust_checks.check_middleware, checks.Tags.security)
        checks.register(redtrust_checks.check_storage, checks.Tags.security, checks.Tags.caches)
        checks.register(redtrust_checks.check_users, checks.Tags.security)
        # Django's login follows Redtrust's when a RedtrustBackend is on (they check).
        signals.redtrust_logged_in.connect(_users.signed_in, dispatch_uid="redtrust.users.in")
        signals.redtrust_logged_out.connect(_users.signed_out, dispatch_uid="redtrust.users.out")
        # Django's own logout (the admin's, LogoutView) ends the Redtrust session too.
        user_logged_out.connect(_logout.django_logged_out, dispatch_uid="redtrust.logout")
