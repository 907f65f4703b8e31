"""The token lifecycle of signed-in users: start and complete a login, load, refresh, end.

Each operation is written once, as a generator that decides and *yields effects* (read this
key, refresh these tokens, wait a little) without doing any I/O; :class:`SessionManager`
and :class:`AsyncSessionManager` are thin drivers that perform the effects with a sync or
async store and client. The package's modules name the steps:

- :mod:`.records`: what the store keeps, and how records are named, sealed and aged;
- :mod:`.effects`: the effects, and :func:`drive` / :func:`adrive`, the one loop that runs
  a flow (and closes it however it ends);
- :mod:`.memo`: the bounded, expiring in-process memo each process remembers things in;
- :mod:`.signin`: starting and completing a login;
- :mod:`.flows`: :class:`SessionFlows`, each request's one read and what it decides;
- :mod:`.refresh`: refreshing under the store lock, and what a failed refresh means;
- :mod:`.rotation`: grace records of rotated refresh tokens, and spent ones;
- :mod:`.logout`: ending a session here and at Redtrust;
- :mod:`.managers`: the two drivers.
"""

from __future__ import annotations

from .effects import (
    Add,
    Delete,
    DeleteIf,
    Effect,
    Exchange,
    Flow,
    Get,
    Lease,
    Logout,
    Notify,
    Put,
    Refresh,
    ReplaceIf,
    Sleep,
    Take,
    adrive,
    drive,
)
from .flows import Loaded, SessionFlows, Touch
from .managers import AsyncSessionManager, SessionManager
from .records import ActiveSession, LoginDone, LoginStart, SessionRecord
from .refresh import RefreshNeeded, classify_refresh_failure

__all__ = [
    "ActiveSession",
    "Add",
    "AsyncSessionManager",
    "Delete",
    "DeleteIf",
    "Effect",
    "Exchange",
    "Flow",
    "Get",
    "Lease",
    "Loaded",
    "LoginDone",
    "LoginStart",
    "Logout",
    "Notify",
    "Put",
    "Refresh",
    "RefreshNeeded",
    "ReplaceIf",
    "SessionFlows",
    "SessionManager",
    "SessionRecord",
    "Sleep",
    "Take",
    "Touch",
    "adrive",
    "classify_refresh_failure",
    "drive",
]
