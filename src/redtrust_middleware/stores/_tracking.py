"""A local copy of Redis's session records, kept coherent by Redis's own invalidation.

Redis 6+ tracks keys for a client (``CLIENT TRACKING``) and tells it when one changes. This
module keeps one listener connection per store, in RESP2 (which every Redis 6+ and every
redis-py parser speaks), set up as::

    CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <the tracked prefix>
    SUBSCRIBE __redis__:invalidate

so Redis publishes the name of every key under the prefix that anyone writes, deletes,
expires or evicts (``None`` for a flush), whoever wrote it. Broadcast mode costs the server
nothing per key read (no tracking table, which at a million sessions would be a million
entries per worker), and costs each worker one small message per session write anywhere:
a refresh every few minutes per user, a touch at a tenth of the idle timeout.

**No stale fill.** A miss is read with ``GET`` on an ordinary pooled connection while the
listener reads on its own, so an invalidation and the reply it overtakes arrive in either
order. :meth:`TrackedReads.begin` hands out a ticket for the key before the ``GET`` is sent;
an invalidation of the key (or of everything) that arrives before the reply voids it, and
:meth:`TrackedReads.fill` keeps the reply only while its ticket stands. A reply read before
a write elsewhere is therefore either voided (the invalidation came first) or dropped when
the invalidation comes; it is never kept past it.

**Never past the key's life.** A filled entry lives locally no longer than the key's own
``PTTL`` read with it, so an expired record is never served even before Redis sends the
expiry's invalidation (which waits for Redis to notice the expiry).

**Off when unsure.** Until the listener has subscribed, when Redis sent it nothing (not even
the answer to its ``PING``) for a second, after it lost its connection, and
after :meth:`TrackedReads.close`, nothing is served or filled (``read_local`` answers
``NOT_LOCAL``, so the store sends one ``GET`` as without the cache) and everything kept is
dropped: invalidations may have been missed meanwhile. The listener reconnects with a
capped back-off, and the cache starts empty again once it has subscribed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

from .._clock import Clock, system_clock
from ..logevents import log
from .base import NOT_LOCAL, LocalValue

__all__ = ["INVALIDATION_CHANNEL", "TrackedReads", "resp2_connector"]

logger = logging.getLogger("redtrust_middleware.stores")

#: Where Redis publishes the invalidations it redirects to a RESP2 connection.
INVALIDATION_CHANNEL = b"__redis__:invalidate"

# The listener's reconnect back-off: first retry soon, then at most once a second.
_FIRST_RETRY = 0.05
_MAX_RETRY = 1.0
# How long one wait for an invalidation lasts before the listener checks it should stop.
_POLL = 0.5

Connect = Callable[[], Any]  # a connected RESP2 redis-py Connection


class TrackedReads:
    """At most ``max_entries`` values of keys under ``prefix``, each dropped when Redis says
    it changed, when its TTL ends, or when the listener loses Redis.

    Keys are the store's own (what ``get`` was given); ``redis_prefix`` is what the store
    puts before them in Redis (its ``prefix``), stripped from the invalidated names.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        prefix: str,
        redis_prefix: str = "",
        max_entries: int = 100_000,
        clock: Clock = system_clock,
        name: str = "redtrust-redis-tracking",
    ) -> None:
        self._connect = connect
        self.prefix = prefix
        self._redis_prefix = redis_prefix
        self._max = max_entries
        self._clock = clock
        # key -> (value, local deadline); read without the lock (one dict lookup)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        # key -> (the ticket of the GET in flight, when it was sent)
        self._tickets: dict[str, tuple[int, float]] = {}
        self._next_ticket = itertools.count(1).__next__
        self._lock = threading.Lock()
        self._live = False
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._connection: Any = None
        #: Invalidation messages handled, and the latest keys they named (tests wait on them).
        self.invalidations = 0
        self._recent: deque[str] = deque(maxlen=1024)
        self._handled = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._listen, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "live" if self._live else "off"
        return f"TrackedReads(prefix={self.prefix!r}, {state}, {len(self._entries)} kept)"

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def live(self) -> bool:
        """True while the listener is subscribed (values are served and filled)."""
        return self._live

    def wait_live(self, timeout: float) -> bool:
        """Wait until the listener has subscribed; True when it has."""
        return self._subscribed.wait(timeout)

    # -- the request path ------------------------------------------------------------------

    def read_local(self, key: str) -> LocalValue:
        """The value kept for ``key``, or :data:`NOT_LOCAL` (never kept, dropped, expired)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self._clock():
            return NOT_LOCAL
        return entry[0]

    def tracks(self, key: str) -> bool:
        """True for a key this cache keeps (under its prefix)."""
        return key.startswith(self.prefix)

    def begin(self, key: str) -> int | None:
        """A ticket for a ``GET`` of ``key`` about to be sent; None when nothing may be kept
        (the key is not tracked, or the listener is not subscribed)."""
        if not key.startswith(self.prefix):
            return None
        with self._lock:
            if not self._live:
                return None
            ticket = self._next_ticket()
            self._tickets[key] = (ticket, self._clock())
            return ticket

    def fill(self, key: str, ticket: int | None, value: bytes | None, pttl_ms: int) -> None:
        """Keep ``value`` (the reply to the ``GET`` of ``ticket``, with the key's ``PTTL``)
        unless an invalidation of ``key`` came since :meth:`begin`."""
        if ticket is None:
            return
        with self._lock:
            pending = self._tickets.get(key)
            if pending is None or pending[0] != ticket:
                return  # voided: the key changed (or the listener dropped everything)
            del self._tickets[key]
            sent_at = pending[1]
            if value is None or pttl_ms == -2 or not self._live:
                return  # absent: nothing to keep (an unknown key is asked again)
            lifetime = math.inf if pttl_ms < 0 else pttl_ms / 1000
            entries = self._entries
            entries.pop(key, None)
            if len(entries) >= self._max:
                entries.popitem(last=False)  # the oldest fill: O(1)
            # From when the GET was sent: never later than Redis's own expiry.
            entries[key] = (value, sent_at + lifetime)

    def forget(self, key: str) -> None:
        """Drop ``key`` now (this process wrote it), voiding any ``GET`` of it in flight."""
        if not key.startswith(self.prefix):
            return
        with self._lock:
            self._entries.pop(key, None)
            self._tickets.pop(key, None)

    # -- the listener ------------------------------------------------------------------------

    def _invalidate(self, names: Iterable[bytes] | None) -> None:
        with self._lock:
            if names is None:  # FLUSHALL / FLUSHDB: everything may have changed
                self._entries.clear()
                self._tickets.clear()
            else:
                cut = len(self._redis_prefix)
                for raw in names:
                    key = raw.decode("latin-1")[cut:]
                    self._entries.pop(key, None)
                    self._tickets.pop(key, None)
                    self._recent.append(key)
            self.invalidations += 1
            self._handled.notify_all()

    def wait_invalidations(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` invalidation messages were handled in all; True when so."""
        with self._handled:
            return self._handled.wait_for(lambda: self.invalidations >= count, timeout)

    def wait_invalidated(self, key: str, timeout: float) -> bool:
        """Wait until an invalidation of ``key`` was handled (among the latest 1,024 keys
        named); True when so. Invalidations come in order, so every earlier one was too."""
        with self._handled:
            return self._handled.wait_for(lambda: key in self._recent, timeout)

    def wait_dropped(self, key: str, timeout: float) -> bool:
        """Wait until nothing is kept for ``key`` (an invalidation dropped it); True when so."""
        with self._handled:
            return self._handled.wait_for(lambda: key not in self._entries, timeout)

    def _drop_all(self, *, live: bool) -> None:
        with self._lock:
            self._live = live
            self._entries.clear()
            self._tickets.clear()

    def _subscribe(self) -> Any:
        connection = self._connect()
        connection.send_command("CLIENT", "ID")
        own_id = connection.read_response()
        connection.send_command(
            "CLIENT",
            "TRACKING",
            "ON",
            "REDIRECT",
            own_id,
            "BCAST",
            "PREFIX",
            self._redis_prefix + self.prefix,
        )
        connection.read_response()
        connection.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
        connection.read_response()
        return connection

    def _listen(self) -> None:
        retry = _FIRST_RETRY
        told = False
        while not self._stopping.is_set():
            try:
                connection = self._subscribe()
            except Exception as error:  # any failure: stay off, retry later
                if not told:
                    told = True
                    log(
                        logger,
                        "redtrust.store.tracking_off",
                        "redtrust: the Redis client-side cache is off until Redis answers "
                        "(%s); every read is a GET meanwhile",
                        type(error).__name__,
                        error_type=type(error).__name__,
                    )
                self._stopping.wait(retry)
                retry = min(_MAX_RETRY, retry * 2)
                continue
            self._connection = connection
            if self._stopping.is_set():  # closed while connecting: never go live
                with contextlib.suppress(Exception):
                    connection.disconnect()
                break
            # Anything kept before may have changed unseen: start empty, then serve.
            self._drop_all(live=True)
            self._subscribed.set()
            retry, told = _FIRST_RETRY, False
            try:
                self._read_invalidations(connection)
            except Exception as error:  # lost Redis: drop all, reconnect
                if not self._stopping.is_set():
                    told = True
                    log(
                        logger,
                        "redtrust.store.tracking_off",
                        "redtrust: the Redis client-side cache lost its connection (%s) and "
                        "dropped everything; every read is a GET until it reconnects",
                        type(error).__name__,
                        error_type=type(error).__name__,
                    )
            finally:
                self._drop_all(live=False)
                self._subscribed.clear()
                self._connection = None
                with contextlib.suppress(Exception):
                    connection.disconnect()

    def _read_invalidations(self, connection: Any) -> None:
        # A path that goes silent (a dead host, a partition, a NAT's idle timeout) sends no
        # FIN: without a probe the listener would stay "live" while invalidations are lost.
        # So it PINGs (allowed while subscribed; the reply is a "pong" message) whenever the
        # connection was quiet for _POLL, and gives up when nothing came for two periods.
        last_heard = time.monotonic()
        pinged = False
        while not self._stopping.is_set():
            if not connection.can_read(timeout=_POLL):
                quiet = time.monotonic() - last_heard
                if quiet >= 2 * _POLL:
                    raise ConnectionError(f"Redis sent nothing for {quiet:.1f} s")
                if not pinged:
                    connection.send_command("PING")
                    pinged = True
                continue
            message = connection.read_response()
            last_heard, pinged = time.monotonic(), False
            if (
                isinstance(message, list)
                and len(message) == 3
                and message[0] == b"message"
                and message[1] == INVALIDATION_CHANNEL
            ):
                self._invalidate(message[2])

    def close(self) -> None:
        """Stop the listener and drop everything (idempotent)."""
        self._stopping.set()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.disconnect()  # wakes the listener's read
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._drop_all(live=False)


def resp2_connector(pool: Any) -> Connect:
    """What opens a listener connection like ``pool``'s (same server, credentials, TLS;
    a Sentinel pool's finds the current master), speaking RESP2."""
    # Maintenance notifications need RESP3; the listener never uses them.
    kwargs = {
        name: value
        for name, value in pool.connection_kwargs.items()
        if not name.startswith("maint_notifications")
    }
    kwargs["protocol"] = 2
    kwargs["socket_keepalive"] = True  # the kernel's probe too, beside the listener's PINGs

    def connect() -> Any:
        connection = pool.connection_class(**kwargs)
        connection.connect()
        return connection

    return connect
