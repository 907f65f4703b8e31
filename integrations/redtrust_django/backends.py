"""``RedtrustBackend``: a Django user for each Redtrust user (``AUTHENTICATION_BACKENDS``).

Turned on by listing it::

    AUTHENTICATION_BACKENDS = [
        "redtrust_django.backends.RedtrustBackend",
        "django.contrib.auth.backends.ModelBackend",  # keep password logins, if any
    ]

After each Redtrust sign-in the Django user whose username is the token's subject (the
``sub`` claim) is logged in with ``django.contrib.auth.login``, created first when there is
none. Subclass it to decide otherwise; the hooks follow mozilla-django-oidc's backend:
:meth:`~RedtrustBackend.get_claims`, :meth:`~RedtrustBackend.get_username`,
:meth:`~RedtrustBackend.filter_users`, :meth:`~RedtrustBackend.create_user` and
:meth:`~RedtrustBackend.update_user`. No Django user is logged in (``request.user`` stays
anonymous, ``request.redtrust`` still works) when the token names no subject, when several
users match, when the user is inactive, or when none matches and
:attr:`~RedtrustBackend.create_unknown_user` is False; each is logged as a warning naming
the Redtrust user and the fix, never a token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from redtrust_middleware.logevents import log
from redtrust_middleware.web import RedtrustContext

__all__ = ["RedtrustBackend"]

logger = logging.getLogger(__name__)


class RedtrustBackend(ModelBackend):
    """Finds or creates the Django user of a Redtrust sign-in; permissions as ModelBackend's.

    ``authenticate(request, redtrust=context)`` is called by the library once Redtrust has
    signed a user in; any other credentials (a password form's) get None, so password logins
    stay with ``ModelBackend``.
    """

    #: Create a Django user for a Redtrust user who has none (Django's ``RemoteUserBackend``
    #: has the same attribute). False: only users that exist already can sign in.
    create_unknown_user = True

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        redtrust: RedtrustContext | None = None,
        **credentials: Any,
    ) -> AbstractBaseUser | None:
        """The Django user for the signed-in ``redtrust`` context, or None (see the module)."""
        if not isinstance(redtrust, RedtrustContext):
            return None  # not a Redtrust sign-in: another backend's credentials
        claims = self.get_claims(redtrust)
        username = self.get_username(claims)
        if not username:
            log(
                logger,
                "redtrust.django.no_user",
                "redtrust: no Django user logged in: the access token names no subject "
                "('sub' claim); override RedtrustBackend.get_username to name users from "
                "other claims",
                reason="no_subject",
            )
            return None
        found = list(self.filter_users(claims)[:2])
        if len(found) > 1:
            log(
                logger,
                "redtrust.django.no_user",
                "redtrust: no Django user logged in: several match Redtrust user %r; make "
                "RedtrustBackend.filter_users return at most one",
                username,
                reason="several_users",
            )
            return None
        if found:
            user = self.update_user(found[0], claims)
        elif not self.create_unknown_user:
            log(
                logger,
                "redtrust.django.no_user",
                "redtrust: no Django user logged in: none is named %r and "
                "create_unknown_user is False; create the user first",
                username,
                reason="unknown_user",
            )
            return None
        else:
            user = self._create(claims)
        if not self.user_can_authenticate(user):
            log(
                logger,
                "redtrust.django.no_user",
                "redtrust: no Django user logged in: %r is inactive",
                username,
                reason="inactive_user",
            )
            return None
        return user

    def _create(self, claims: Mapping[str, Any]) -> AbstractBaseUser:
        model = get_user_model()
        try:
            with transaction.atomic(using=router.db_for_write(model)):
                return self.create_user(claims)
        except IntegrityError:  # a concurrent first sign-in of the same user created it
            found = list(self.filter_users(claims)[:2])
            if len(found) != 1:
                raise
            return self.update_user(found[0], claims)

    # -- the hooks ----------------------------------------------------------------------------

    def get_claims(self, context: RedtrustContext) -> Mapping[str, Any]:
        """The claims the other hooks read: the access token's by default. Override to add
        some (``context.client`` calls Redtrust as this user), e.g. for opaque tokens."""
        return context.claims

    def get_username(self, claims: Mapping[str, Any]) -> str | None:
        """The Django username of this Redtrust user: the subject (``sub``) by default.
        None: the sign-in has no Django user."""
        subject = claims.get("sub")
        return subject if isinstance(subject, str) and subject else None

    def filter_users(self, claims: Mapping[str, Any]) -> QuerySet[Any]:
        """The Django users that are this Redtrust user: the one whose ``USERNAME_FIELD``
        is :meth:`get_username`. More than one: nobody is logged in."""
        model = get_user_model()
        field = str(model.USERNAME_FIELD)
        return model._default_manager.filter(**{field: self.get_username(claims)})

    def create_user(self, claims: Mapping[str, Any]) -> AbstractBaseUser:
        """A new Django user for this Redtrust user, without a usable password (they sign in
        with Redtrust). Override to fill more fields (a custom user model's required ones)."""
        model = get_user_model()
        field = str(model.USERNAME_FIELD)
        user: AbstractBaseUser = model(**{field: self.get_username(claims)})
        user.set_unusable_password()
        user.save()
        return user

    def update_user(self, user: AbstractBaseUser, claims: Mapping[str, Any]) -> AbstractBaseUser:
        """The existing ``user`` at each sign-in, to bring up to date from ``claims``;
        returned unchanged by default (not called for a user just created)."""
        return user
