"""Signing out, as flows: end a session here, and at Redtrust when the profile can."""

from __future__ import annotations

import logging

from ..exceptions import TokenError, UpstreamError
from ..hooks import LogoutEvent, LogoutReason
from ..logevents import error_fields, log
from ..login import is_handle
from ..tokens import TokenSet
from .effects import Flow, Logout, Notify, Refresh, Take
from .records import Records, session_tag
from .rotation import Rotations

__all__ = ["log_ended", "logout", "remote_logout"]

logger = logging.getLogger(__name__)


def log_ended(reason: LogoutReason, handle: str) -> None:
    """Log that the session ``handle`` ended for ``reason``: every end, whether hooks hear
    of it or not, at one place."""
    log(
        logger,
        "redtrust.logout",
        "redtrust: session ended (%s)",
        reason.value,
        reason=reason.value,
        session=session_tag(handle),
    )


def remote_logout(rotations: Rotations, tokens: TokenSet) -> Flow[None]:
    """End the session at Redtrust too (when the profile can); failures are logged."""
    records = rotations.records
    if records.config.profile.logout is None:
        return
    try:
        if tokens.is_expired(records.clock()) and tokens.refresh_token is not None:
            if (yield from rotations.is_spent(tokens)):
                return
            tokens = yield Refresh(tokens)
        yield Logout(tokens)
    except (UpstreamError, TokenError) as error:
        log(
            logger,
            "redtrust.logout.remote_failed",
            "redtrust: remote logout failed (%s); ended locally",
            type(error).__name__,
            **error_fields(error),
        )


def logout(records: Records, rotations: Rotations, handle: str | None) -> Flow[bool]:
    """End the session: delete it here, and remotely when the profile has a logout.

    An expired access token is refreshed first, so the remote logout can still invalidate
    the refresh token. Remote failures are logged; the local session ends regardless.
    """
    if not handle or not is_handle(handle):
        return False
    key = records.session_key(handle)
    record = records.open_record(key, (yield Take(key)))
    if record is None:
        return False
    graced = yield from rotations.graced(record.tokens, records.clock())
    # A refresh that was not saved rotated the token: log out with the newest set.
    yield from remote_logout(rotations, graced or record.tokens)
    tokens = record.tokens
    log_ended(LogoutReason.SIGNED_OUT, handle)
    yield Notify(
        LogoutEvent(reason=LogoutReason.SIGNED_OUT, subject=tokens.subject, claims=tokens.claims)
    )
    return True
