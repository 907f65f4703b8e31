"""The :class:`Sandbox`: a faithful local Redtrust server in one object."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from html.parser import HTMLParser
from typing import Any

import httpx2

from .._clock import Clock, system_clock
from ._asgi import DROP_EXTENSION, LATENCY_EXTENSION, ASGIApp, printable
from ._config import SandboxConfig
from ._enroll import CertificateInfo, EnrollmentState
from ._errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    SANDBOX_FAULT,
    Reject,
)
from ._faults import Fault, FaultChange, FaultKind, check_latency
from ._hostile import HostileKind, hostile_response
from ._http import envelope, html_response
from ._jwt import AccessTokenSigner
from ._pages import error_page
from ._routes import ENDPOINTS, ROUTES, Handler, Route, Services
from ._state import FaultPlan, SandboxState, SessionInfo

__all__ = ["ENDPOINTS", "Sandbox"]

logger = logging.getLogger("redtrust_middleware.sandbox")

_NO_FAULT = FaultPlan()


class Sandbox:
    """A local Redtrust server: login page, token API (both profiles), RA API certificate
    requests, faults and counters.

    All state sits behind one lock, so one sandbox can serve threads, event loops and a
    socket server at once. Time comes from ``clock`` (UNIX seconds): inject a fake clock to
    expire tokens in tests.

    Serve it in-process with :meth:`transport` / :meth:`async_transport` (``httpx2`` mock
    transports), or over sockets with :attr:`asgi_app` (see :func:`serve` and
    :func:`running`).
    """

    def __init__(self, config: SandboxConfig, *, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        self._state = SandboxState(config, clock)
        self._signer = AccessTokenSigner(config.issuer)
        self._enrollment = EnrollmentState(config, clock)
        self._services = Services(config, self._state, self._signer, clock, self._enrollment)
        #: The ASGI 3 application serving :meth:`handle` over sockets (http and lifespan).
        self.asgi_app = ASGIApp(self)

    def __repr__(self) -> str:
        return f"Sandbox(partners={sorted(self.config.partners)!r}, kid={self._signer.kid!r})"

    # -- the handler ---------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """Answer one request; never raises.

        The body must have been read (``request.content``). Bad input gets a 4xx, a sandbox
        bug a 500 ``INTERNAL_ERROR`` envelope (the traceback goes to the log only). A response
        chosen by :meth:`drop_next` carries the ``redtrust_sandbox.drop`` extension; the
        transports turn it into a transport error.
        """
        try:
            return self._dispatch(request)
        except Exception:
            logger.exception(
                "sandbox bug answering %s %s",
                printable(request.method, 16),
                printable(request.url.path),
            )
            return envelope(500, INTERNAL_ERROR, "internal sandbox error")

    def _dispatch(self, request: httpx2.Request) -> httpx2.Response:
        route = ROUTES.get(request.url.path)
        if route is None:
            return envelope(404, NOT_FOUND, "no such endpoint")
        handler = route.methods.get(request.method)
        if handler is None:
            allow = {"Allow": ", ".join(route.methods)}
            reject = Reject(405, METHOD_NOT_ALLOWED, "method not allowed here", headers=allow)
            return self._refusal(route, reject)
        plan = _NO_FAULT if route.kind == "control" else self._state.count_call(route.name)
        response = self._answer(route, handler, request, plan)
        if plan.latency:
            response.extensions[LATENCY_EXTENSION] = plan.latency
        if plan.drop:
            response.extensions[DROP_EXTENSION] = True
        return response

    def _answer(
        self,
        route: Route,
        handler: Handler,
        request: httpx2.Request,
        plan: FaultPlan,
    ) -> httpx2.Response:
        if plan.fail_status is not None:
            fault = Reject(plan.fail_status, SANDBOX_FAULT, "fault injected by the sandbox")
            return self._refusal(route, fault)
        if plan.hostile is not None:
            return hostile_response(plan.hostile)
        try:
            if len(request.content) > self.config.max_body_bytes:
                raise Reject(413, PAYLOAD_TOO_LARGE, "the request body is too large")
            return handler(self._services, request)
        except Reject as reject:
            return self._refusal(route, reject)

    @staticmethod
    def _refusal(route: Route, reject: Reject) -> httpx2.Response:
        if route.kind == "browser":
            page = error_page(reject.status, reject.code, reject.message, reject.notes)
            return html_response(reject.status, page, headers=reject.headers)
        return envelope(reject.status, reject.code, reject.message, headers=reject.headers)

    # -- serving -------------------------------------------------------------------------

    def transport(self) -> httpx2.MockTransport:
        """A transport for a sync ``httpx2.Client`` (handles the call, then sleeps
        :attr:`latency` before the answer)."""
        return httpx2.MockTransport(self._sync_handler)

    def async_transport(self) -> httpx2.MockTransport:
        """A transport for an ``httpx2.AsyncClient`` (handles the call, then awaits
        :attr:`latency` before the answer)."""
        return httpx2.MockTransport(self._async_handler)

    def _sync_handler(self, request: httpx2.Request) -> httpx2.Response:
        response = self.handle(request)
        if latency := response.extensions.get(LATENCY_EXTENSION, 0.0):
            time.sleep(latency)
        return self._deliver(request, response)

    async def _async_handler(self, request: httpx2.Request) -> httpx2.Response:
        response = self.handle(request)
        if latency := response.extensions.get(LATENCY_EXTENSION, 0.0):
            await asyncio.sleep(latency)
        return self._deliver(request, response)

    @staticmethod
    def _deliver(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if response.extensions.get(DROP_EXTENSION):
            raise httpx2.ReadError("the sandbox dropped the response (drop_next)", request=request)
        return response

    # -- faults --------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every answer is held back (0 = none). Thread-safe.

        The call is handled first (state changes happen at once), then the answer waits:
        so a client that gives up before the answer comes has still had its call served,
        like a slow network on the way back. Control routes (``/_sandbox/*``) never wait.
        """
        with self._state.lock:
            return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.change_faults(FaultChange(latency=check_latency(seconds)))

    def fail_next(self, count: int = 1, status: int = 503, *, endpoint: str | None = None) -> None:
        """Answer the next ``count`` calls (to ``endpoint`` only, if given) with ``status``.

        The answer is an ERROR envelope (an HTML page on the browser routes) with ``errorCode``
        ``SANDBOX_FAULT``; the call is counted but changes no state. Faults queue up in order.
        """
        self._plan("fail", count=count, endpoint=endpoint, status=status)

    def drop_next(self, count: int = 1, *, endpoint: str | None = None) -> None:
        """Lose the responses of the next ``count`` calls (to ``endpoint`` only, if given).

        The call is handled normally (state changes happen), then the answer is lost: the
        mock transports raise ``httpx2.ReadError``; over a socket served by :func:`serve` or
        :func:`running` the connection is closed without a byte of the answer (the client
        sees ``RemoteProtocolError: Server disconnected without sending a response``).
        """
        self._plan("drop", count=count, endpoint=endpoint)

    def misbehave_next(
        self, kind: HostileKind, count: int = 1, *, endpoint: str | None = None
    ) -> None:
        """Answer the next ``count`` calls (to ``endpoint`` only, if given) with a hostile
        response instead of handling them (no state changes); the call is counted.

        Kinds (:data:`HOSTILE_KINDS`): ``not-json`` (JSON content type, HTML body), ``html``
        (a 200 HTML page), ``non-object`` (a JSON array), ``no-envelope`` (bare token data),
        ``wrong-types`` (``accessToken`` 42, ``refreshToken`` null ...),
        ``success-with-error-code`` (``SUCCESS`` with ``errorCode`` != ``OK``),
        ``bad-expiration`` (``expiration`` "tomorrow"), ``huge`` (an 8 MiB JSON body),
        ``gzip-bomb`` (64 MiB of JSON in ~64 KiB of gzip) and ``redirect`` (302 elsewhere).
        """
        self._plan("hostile", count=count, endpoint=endpoint, variant=kind)

    def _plan(
        self,
        kind: FaultKind,
        *,
        count: object,
        endpoint: object,
        status: object = 503,
        variant: object = "",
    ) -> None:
        fault = Fault.checked(
            kind,
            endpoints=ENDPOINTS,
            count=count,
            endpoint=endpoint,
            status=status,
            variant=variant,
        )
        self._state.change_faults(FaultChange(faults=(fault,)))

    def change_faults(self, change: FaultChange) -> None:
        """Apply a whole change at once (what ``POST /_sandbox/faults`` and the command line
        do): forget the planned faults if ``change.clear``, set the latency unless ``None``,
        then plan ``change.faults`` after those already planned."""
        self._state.change_faults(change)

    def planned_faults(self) -> tuple[Fault, ...]:
        """The faults still planned, in the order they are taken, each with its count left."""
        return self._state.fault_plan()[1]

    def clear_faults(self) -> None:
        """Forget every planned fault (:meth:`fail_next`, :meth:`misbehave_next`,
        :meth:`drop_next`); the latency stays."""
        self._state.change_faults(FaultChange(clear=True))

    # -- counters and introspection ------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Calls per endpoint name (see :data:`ENDPOINTS`), plus ``refresh_reuse``.

        Live and shared: read it, don't write it (use :meth:`reset_counters`).
        """
        return self._state.calls

    def reset_counters(self) -> None:
        """Zero every counter."""
        self._state.reset_counters()

    def jwks(self) -> dict[str, Any]:
        """The public JWK set that verifies the access tokens (ES256, one key)."""
        return self._signer.jwks()

    def sign_in(self, login_url: str, username: str, password: str) -> str:
        """Play the user's browser on the login page, in-process; the redirect location.

        Opens ``login_url`` (a signed ``loginrequest`` URL), posts the form with the given
        credentials and returns where Redtrust sends the browser (``RedirectUrl`` + ``tkn``).

        Raises:
            ValueError: the page or the sign-in was refused (the status is in the message).
        """
        page = self.handle(httpx2.Request("GET", login_url))
        page.read()
        if page.status_code != 200:
            raise ValueError(f"the login page answered {page.status_code}")
        form = _LoginForm()
        form.feed(page.text)
        form.close()
        body = {**form.fields, "username": username, "password": password}
        target = httpx2.URL(login_url).join(form.action)
        answer = self.handle(httpx2.Request("POST", target, data=body))
        location = answer.headers.get("location")
        if answer.status_code != 302 or not location:
            raise ValueError(f"the sign-in answered {answer.status_code}")
        return location

    def issue_temp_token(
        self, username: str, domain: str | None = None, *, partner: str | None = None
    ) -> str:
        """A temporary token as if ``username`` had just signed in on the login page.

        ``partner`` may be left out when the config has exactly one partner.
        """
        if partner is None:
            if len(self.config.partners) != 1:
                raise ValueError("several partners are configured: pass partner=")
            (partner,) = self.config.partners
        elif partner not in self.config.partners:
            raise ValueError("unknown partner")
        if not username:
            raise ValueError("username must not be empty")
        return self._state.issue_temp_token(partner, username, domain)

    def sessions_for(self, username: str) -> list[SessionInfo]:
        """Snapshots of every session of ``username`` (ended ones have ``active=False``)."""
        return self._state.sessions_for(username)

    def revoke(self, username: str) -> int:
        """End every session of ``username`` (its refresh tokens stop working); how many."""
        return self._state.revoke(username)

    def expire_session(self, refresh_token: str) -> bool:
        """Make ``refresh_token`` expired now; False when it is not a live refresh token."""
        return self._state.expire_session(refresh_token)

    def certificates_for(self, username: str) -> list[CertificateInfo]:
        """The certificates ``username`` holds now, oldest first (a renewal replaced the one
        it renewed). Read-only: the published API has no list call, so this is for tests and
        for looking inside the sandbox."""
        return self._enrollment.certificates_for(username)

    def record_counts(self) -> dict[str, int]:
        """How many records each in-memory table holds now (after forgetting what is due).

        Keys: ``login_attempts``, ``login_links`` (signed links with open sign-in pages),
        ``temp_tokens``, ``sessions`` (running and ended), ``ended_sessions``,
        ``session_expiries`` (the expiry queue), ``refresh_tokens``,
        ``retired_refresh_tokens``, ``csr_requests`` (pending), ``csr_request_users``,
        ``finalized_requests``, ``certificates`` and ``certificate_users``. Each is bounded
        (see :class:`SandboxConfig`).
        """
        return self._state.record_counts() | self._enrollment.record_counts()


class _LoginForm(HTMLParser):
    """The sign-in form's action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
