"""``RedtrustAuthentication``: Django REST framework views for Redtrust-signed-in users.

``pip install "redtrust-middleware[drf]"``, then (with ``RedtrustBackend`` on)::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["redtrust_django.drf.RedtrustAuthentication"],
    }

``request.user`` is the Django user ``RedtrustBackend`` logged in and ``request.auth`` the
:class:`~redtrust_middleware.web.RedtrustContext` (``request.auth.client`` calls Redtrust as
this user). The sign-in lives in the session cookie, so, as with DRF's
``SessionAuthentication``, unsafe methods must pass Django's CSRF check, and a request
without a sign-in gets 403: a 401 would need a ``WWW-Authenticate`` challenge, and no HTTP
authentication scheme applies to a cookie. When Redtrust or the session store cannot be
reached just now, the answer is 502/503 (``redtrust_unavailable``, ``store_unavailable``),
not a request to sign in.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

if find_spec("rest_framework") is None:
    raise ImportError(
        "redtrust_django.drf needs Django REST framework, which is not installed: "
        'pip install "redtrust-middleware[drf]"',
        name="rest_framework",
    )

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.request import Request

from redtrust_middleware import StoreError

from .middleware import PROBLEM_ATTRIBUTE

__all__ = ["RedtrustAuthentication", "RedtrustUnavailable"]


class RedtrustUnavailable(exceptions.APIException):  # type: ignore[misc]
    """Redtrust or the session store could not be reached: the user may well be signed in."""

    status_code = 503
    default_detail = "Redtrust could not be reached just now; please try again in a moment."
    default_code = "redtrust_unavailable"


class RedtrustAuthentication(BaseAuthentication):  # type: ignore[misc]
    """The Redtrust session of the request: ``(Django user, RedtrustContext)`` or None."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """The signed-in user and context; None without a Redtrust sign-in (or without a
        Django user for it); 502/503 when the session could not be read just now."""
        django_request = request._request
        context = getattr(django_request, "redtrust", None)
        if context is None:
            problem = getattr(django_request, PROBLEM_ATTRIBUTE, None)
            if problem is not None:
                raise _unavailable(problem)
            return None
        user = getattr(django_request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        self.enforce_csrf(request)
        return user, context

    def enforce_csrf(self, request: Request) -> None:
        """Django's CSRF check, as DRF's ``SessionAuthentication`` makes it."""

        def dummy_get_response(request: Any) -> None:  # pragma: no cover - never called
            return None

        check = CSRFCheck(dummy_get_response)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")

    def authenticate_header(self, request: Request) -> str | None:
        """None: a cookie has no ``WWW-Authenticate`` scheme, so DRF answers 403, not 401."""
        return None


def _unavailable(problem: Exception) -> exceptions.APIException:
    """The 502/503 for ``problem`` (its ``http_status``, as the library's pages answer)."""
    error = RedtrustUnavailable()
    status = getattr(problem, "http_status", 503)
    error.status_code = status if status in (502, 503) else 503
    if isinstance(problem, StoreError):
        error.detail = exceptions.ErrorDetail(
            "The session store could not be reached just now; please try again in a moment.",
            code="store_unavailable",
        )
    return error
