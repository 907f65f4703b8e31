"""What is known about rotated refresh tokens: grace records and spent tokens.

A refresh rotates the refresh token. Its *grace record* maps the old refresh token to the
new token set for a minute, so a straggler holding the old record (another request, another
process, or this one after its save failed) takes the new tokens instead of presenting the
old refresh token again. A refresh whose outcome is unknown leaves its refresh token
*spent*: it may have been rotated upstream, so it is never presented again. Both are kept
in this process (a :class:`~.memo.Memo`) and in the store, for the other processes.
"""

from __future__ import annotations

from ..login import Freshness, freshness
from ..tokens import TokenSet
from .effects import Flow, Get, Put, best_effort
from .memo import Memo
from .records import Records, SessionRecord, digest

__all__ = ["GRACE_SECONDS", "Rotations"]

#: How long a grace record (old refresh token -> new token set) is kept.
GRACE_SECONDS = 60.0


class Rotations:
    """The grace records and spent refresh tokens of one process, over its store."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self._grace: Memo[str, TokenSet] = Memo(ttl=GRACE_SECONDS, clock=records.clock)
        self._spent: Memo[str, bool] = Memo(
            ttl=records.config.absolute_timeout, clock=records.clock
        )

    def rotated(self, old: TokenSet, new: TokenSet, now: float) -> Flow[None]:
        """Keep the grace record of a refresh from ``old`` to ``new`` (a failed write is
        logged: this process still has it)."""
        if old.refresh_token is None:
            return
        self._grace.put(digest(old.refresh_token), new)
        records = self.records
        key = records.grace_key(old.refresh_token)
        graced = SessionRecord(tokens=new, created_at=now, seen_at=now)
        yield from best_effort(
            Put(key, records.seal(key, graced.encode()), GRACE_SECONDS), "keep a grace record"
        )

    def graced(self, tokens: TokenSet, now: float) -> Flow[TokenSet | None]:
        """The newer token set a refresh of ``tokens`` produced, here or in the store; None
        when there is none (or it is no newer and fresh)."""
        if tokens.refresh_token is None:
            return None
        candidate = self._grace.get(digest(tokens.refresh_token))
        if candidate is not None and self._newer(tokens, candidate, now):
            return candidate
        key = self.records.grace_key(tokens.refresh_token)
        stored = self.records.open_record(key, (yield Get(key)))
        candidate = None if stored is None else stored.tokens
        return candidate if self._newer(tokens, candidate, now) else None

    def _newer(self, tokens: TokenSet, candidate: TokenSet | None, now: float) -> bool:
        """True when ``candidate`` replaces ``tokens`` (a refresh result not saved yet)."""
        return (
            candidate is not None
            and candidate.expires_at > tokens.expires_at
            and freshness(candidate, now, self.records.config.refresh_leeway) is Freshness.FRESH
        )

    def mark_spent(self, tokens: TokenSet) -> Flow[None]:
        """Remember (here and in the store) that this refresh token must not be presented."""
        if tokens.refresh_token is None:
            return
        self._spent.put(digest(tokens.refresh_token), True)
        ttl = self.records.config.absolute_timeout
        yield from best_effort(
            Put(self.records.spent_key(tokens.refresh_token), b"1", ttl),
            "remember a spent refresh token",
        )

    def is_spent(self, tokens: TokenSet) -> Flow[bool]:
        """True when ``tokens``' refresh token must not be presented (here, or elsewhere)."""
        if tokens.refresh_token is None:
            return False
        if self._spent.get(digest(tokens.refresh_token)):
            return True
        return (yield Get(self.records.spent_key(tokens.refresh_token))) is not None
