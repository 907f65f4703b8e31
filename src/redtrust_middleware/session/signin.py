"""Signing in, as flows: start a login, then complete it from Redtrust's callback.

What a login *is* (its redirect, its callback, its pending record) is the pure protocol of
:mod:`redtrust_middleware.login`; these flows add the store and the exchange around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ..exceptions import APIError, ConfigurationError, LoginExpiredError
from ..hooks import LoginEvent
from ..logevents import log, since
from ..login import (
    PendingLogin,
    build_login_url,
    is_handle,
    login_redirect_url,
    new_handle,
    parse_callback,
    pick_pending,
    validate_next,
)
from ..tokens import TokenSet
from .effects import Delete, Exchange, Flow, Notify, Put, Take, best_effort
from .records import LoginDone, LoginStart, Records, SessionRecord, session_tag

__all__ = ["begin_login", "complete_login"]

logger = logging.getLogger(__name__)


def begin_login(
    records: Records,
    *,
    next_url: str | None,
    callback_url: str | None = None,
    browser_nonces: Sequence[str] = (),
) -> Flow[LoginStart]:
    """Record a pending login and build the signed redirect to Redtrust.

    ``callback_url`` defaults to the configured ``public_url`` + ``callback_path``; an
    adapter passes one only when it derived it from a trusted host.
    """
    config = records.config
    callback = callback_url or config.redirect_url
    if callback is None:
        raise ConfigurationError(
            "public_url", "is needed to build RedirectUrl", variable="REDTRUST_PUBLIC_URL"
        )
    now = records.clock()
    pending = PendingLogin(
        nonce=new_handle(), next_url=validate_next(next_url, config), created_at=now
    )
    key = records.pending_key(pending.nonce)
    yield Put(key, records.seal(key, pending.to_json()), config.pending_login_ttl)
    redirect = login_redirect_url(config, callback, pending.nonce)
    url = build_login_url(config, redirect_url=redirect, now=now)
    nonces = (*browser_nonces, pending.nonce)[-config.max_pending_logins :]
    log(logger, "redtrust.login.started", "redtrust: sign-in started")
    return LoginStart(url=url, browser_nonces=nonces)


def complete_login(
    records: Records,
    *,
    query: bytes | str,
    browser_nonces: Sequence[str],
    previous_handle: str | None = None,
) -> Flow[LoginDone]:
    """Validate the callback, take its pending login once, exchange ``tkn``, open a session.

    Raises:
        InvalidCallbackError: malformed callback (before any store or network work).
        LoginExpiredError: no live pending login for this browser (start again).
        UpstreamError: Redtrust failed; StoreError: the session could not be saved.
    """
    config = records.config
    params = parse_callback(query, expect_nonce=config.nonce_in_redirect)
    nonce = pick_pending(params, browser_nonces)
    key = records.pending_key(nonce)
    blob = yield Take(key)  # atomic: a replayed or concurrent callback finds nothing
    raw = None if blob is None else records.keyring.open(blob, context=key)
    pending = None if raw is None else PendingLogin.from_json(nonce, raw)
    now = records.clock()
    if pending is None or now - pending.created_at > config.pending_login_ttl:
        raise LoginExpiredError("this sign-in expired or was already used", code="LOGIN_EXPIRED")
    started = time.perf_counter()  # for the log only
    try:
        tokens: TokenSet = yield Exchange(params.temp_token)
    except APIError as error:
        if not error.is_rejection:
            raise
        raise LoginExpiredError(
            "Redtrust did not accept this sign-in", code="EXCHANGE_REJECTED"
        ) from None
    handle = new_handle()
    now = records.clock()
    records.received(tokens, now)
    record = SessionRecord(tokens=tokens, created_at=now, seen_at=now)
    yield records.put(records.session_key(handle), record, now)
    if previous_handle and is_handle(previous_handle):  # no fixation: the old one ends
        yield from best_effort(
            Delete(records.session_key(previous_handle)), "end the previous session"
        )
    latency = since(started)
    log(
        logger,
        "redtrust.login.completed",
        "redtrust: signed in (exchange %.0f ms)",
        latency,
        session=session_tag(handle),
        latency_ms=latency,
    )
    # Only now, the session written: a hook never hears of a sign-in that did not happen.
    yield Notify(LoginEvent(subject=tokens.subject, tokens=tokens, created_at=now))
    remaining = tuple(n for n in browser_nonces if n != nonce)
    return LoginDone(
        handle=handle,
        next_url=validate_next(pending.next_url, config),
        browser_nonces=remaining,
    )
