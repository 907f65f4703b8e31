"""Django requests and responses to and from the core's neutral web types."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from redtrust_middleware import AsyncClient, Client, StoreError, bind_client
from redtrust_middleware.session import SessionFlows
from redtrust_middleware.session.flows import LocalRead
from redtrust_middleware.stores import NOT_LOCAL, LocalValue
from redtrust_middleware.web import (
    MAX_FORM_BYTES,
    Browser,
    Gate,
    RedtrustContext,
    WebRequest,
    WebResponse,
)

from ._memo import Bounded
from ._records import read as read_records
from .conf import Runtime
from .store import NOT_LOADED, DjangoStore, loaded_records

__all__ = [
    "HANDLE_KEY",
    "NONCES_KEY",
    "bound_context",
    "browser",
    "http_response",
    "local_read",
    "session_unavailable",
    "store_for",
    "store_to_save",
    "web_request",
]

#: ``request.session`` entries: this browser's session handle and pending-login nonces.
HANDLE_KEY = "_redtrust_handle"
NONCES_KEY = "_redtrust_login"
_STORE_ATTRIBUTE = "_redtrust_store"
#: The session and the records in it that :func:`local_read` read, before any store existed.
_READ_ATTRIBUTE = "_redtrust_read"
#: Contexts bound to a client and keys' kinds, remembered: as many as the gate remembers
#: answers and the core store keys.
_MEMO_ENTRIES = 10_000
_browser_keys: Bounded[str, bool] = Bounded(_MEMO_ENTRIES)


def _is_browser_record(key: str) -> bool:
    """``SessionFlows.is_browser_record``, remembered (asked on every request)."""
    found = _browser_keys.get(key)
    if found is None:
        found = SessionFlows.is_browser_record(key)
        _browser_keys.put(key, found)
    return found


def _raw_query(request: HttpRequest) -> bytes:
    """The query as the browser sent it: ASGI gives the bytes, WSGI a latin-1 string."""
    scope = getattr(request, "scope", None)
    raw = scope.get("query_string") if isinstance(scope, dict) else None
    if isinstance(raw, bytes):
        return raw
    return str(request.META.get("QUERY_STRING", "")).encode("latin-1", "replace")


def web_request(request: HttpRequest, *, gate: Gate | None = None) -> WebRequest:
    """The neutral request for a Django one (header names lower-case); with ``gate``, the
    body too where the gate needs it (the sign-out form's token)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    if "host" not in headers:  # WSGI without HTTP_HOST: the host Django derives instead
        with contextlib.suppress(DisallowedHost):
            headers["host"] = request.get_host()
    neutral = WebRequest(
        method=request.method or "GET",
        path=request.path_info,  # the routed path, as API_PREFIXES are written
        query=_raw_query(request),
        headers=headers,
        scheme=request.scheme or "http",
    )
    if gate is not None and gate.wants_body(neutral):
        declared = str(request.META.get("CONTENT_LENGTH") or "0")
        if declared.isdigit() and int(declared) <= MAX_FORM_BYTES:
            neutral = replace(neutral, body=request.body)
    return neutral


def http_response(answer: WebResponse) -> HttpResponse:
    """A Django response for a gate answer."""
    response = HttpResponse(content=answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


def session_unavailable(error: Exception) -> StoreError:
    """The problem to answer 503 with when Django's session engine failed (``error``)."""
    return StoreError(f"the Django session is unavailable ({type(error).__name__})")


def _browser(handle: Any, nonces: Any, runtime: Runtime) -> Browser:
    limit = runtime.config.max_pending_logins
    kept = (
        tuple(n for n in nonces if isinstance(n, str))[-limit:] if isinstance(nonces, list) else ()
    )
    return Browser(handle=handle if isinstance(handle, str) else None, nonces=kept)


def browser(request: HttpRequest, runtime: Runtime) -> Browser:
    """What this browser keeps in its Django session."""
    session = request.session
    return _browser(session.get(HANDLE_KEY), session.get(NONCES_KEY), runtime)


def store_for(request: HttpRequest, runtime: Runtime) -> DjangoStore:
    """The store this request's session steps run over: one per request (the middleware's
    and the views'), so it knows what this request changed before the session is saved."""
    store: DjangoStore | None = request.__dict__.get(_STORE_ATTRIBUTE)
    if store is None or store.session is not request.session:
        store = DjangoStore(
            request.session,
            runtime.cache_alias,  # looked up only if this request needs the cache
            runtime.parts.clock,
            _is_browser_record,
        )
        read = request.__dict__.get(_READ_ATTRIBUTE)
        if read is not None and read[0] is request.session:
            store.read_before(read[1])
        setattr(request, _STORE_ATTRIBUTE, store)
    return store


def local_read(request: HttpRequest, runtime: Runtime) -> LocalRead:
    """:meth:`DjangoStore.read_local` of the request's store, without building one: most
    requests only read their records. What it read is noted on the request, so a store built
    later (:func:`store_for`: a view's, or :func:`store_to_save`'s) starts from it."""
    # The request's attributes as a dict (not vars(): a call on every request).
    noted, session = request.__dict__, request.session
    store: DjangoStore | None = noted.get(_STORE_ATTRIBUTE)
    if store is not None and store.session is session:
        return store.read_local
    clock = runtime.parts.clock

    def read(key: str) -> LocalValue:
        raw = loaded_records(session)
        if raw is NOT_LOADED or not _is_browser_record(key):
            return NOT_LOCAL
        if _READ_ATTRIBUTE not in noted:
            noted[_READ_ATTRIBUTE] = (session, raw)
        return read_records(raw, key, clock())

    return read


def store_to_save(request: HttpRequest, runtime: Runtime) -> DjangoStore | None:
    """The store whose :meth:`DjangoStore.before_save` runs before ``SessionMiddleware``
    saves: the one this request used, or, when it only read its records (:func:`local_read`)
    and the session is going to be saved, one built now from that read; else None (nothing
    to do)."""
    noted = request.__dict__
    store: DjangoStore | None = noted.get(_STORE_ATTRIBUTE)
    if store is None and _READ_ATTRIBUTE in noted and DjangoStore.saves(request.session):
        store = store_for(request, runtime)
    return store


#: id of a context -> (the context, the client, the context bound to it). Both objects are
#: held, so no id is reused while the entry lives. A context is bound to one client (the
#: middleware's; a sync view under ASGI binds the bound one again, a context of its own).
_bound: Bounded[int, tuple[RedtrustContext, object, RedtrustContext]] = Bounded(_MEMO_ENTRIES)


def bound_context(context: RedtrustContext, client: Client | AsyncClient) -> RedtrustContext:
    """``context`` with ``client`` bound to its user (as the request's ``redtrust``). The gate
    hands every request of an unchanged session the same context: it is bound once, and each
    of those requests gets the same (frozen) object."""
    key = id(context)
    found = _bound.get(key)
    if found is not None and found[0] is context and found[1] is client:
        return found[2]
    bound = replace(context, client=bind_client(client, context.tokens))
    _bound.put(key, (context, client, bound))
    return bound
