"""Where the browser opened the app, against ``public_url``: the host diagnosis of sign-in.

A browser keeps the pending-login cookie for the host it opened the app at, and Redtrust
sends it back to ``public_url``'s host. When the two differ (``localhost`` for ``127.0.0.1``,
another port, another name), the callback arrives without that cookie and is refused. These
pure steps notice it: at the login start (move the browser to ``public_url`` on the same
machine, else warn) and when a callback is refused (say why, and what to change).

A page only ever repeats the ``Host`` of its own request. The hosts that recently started a
sign-in elsewhere are named in the log alone: any client can send a login with a made-up
``Host``, and another user's page must not tell them to go there.

Only the ``Host`` header is compared, never the scheme: behind a TLS-terminating proxy the app
sees ``http`` although the browser uses ``https``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ._clock import Clock
from .logevents import log
from .pages import N_, Text

__all__ = ["HostCheck", "is_loopback"]

logger = logging.getLogger("redtrust_middleware.web")

#: A ``Host`` header we are willing to compare and to repeat in a log line or a page.
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")
#: Codes of a callback refused because this browser sent no (or another) pending login.
_NO_COOKIE_CODES = frozenset({"NO_PENDING_LOGIN", "FOREIGN_LOGIN"})
_REMEMBERED = 32  # recent login starts at another host, by host (bounded)
_WARNED = 32  # hosts warned about at their first login start, per process (bounded)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``, and
    ``::ffff:127.x`` IPv4-mapped), as a URL's host (lower case, unbracketed).

    Other names under ``.localhost`` are not: RFC 6761 asks resolvers to answer them with
    loopback, but this process resolves them with the system's resolver, which may ask DNS
    (or try a search domain) instead; plain http is allowed only where it cannot leave the
    machine, for the connection to Redtrust and for the doctor alike.
    """
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _split(netloc: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``host[:port]``, host lower-case and unbracketed; None if bad."""
    try:
        parts = urlsplit("//" + netloc)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    return None if host is None else (host, port)


class HostCheck:
    """The host diagnosis for one app: its ``public_url``, what moves and what it tells.

    Holds the hosts that recently started a sign-in elsewhere than ``public_url`` (at most
    32, forgotten after ``pending_login_ttl``), so that a refused callback's log line can
    name them.
    """

    def __init__(self, public_url: str, *, pending_login_ttl: float, clock: Clock) -> None:
        self.public_url = public_url
        parts = urlsplit(public_url)
        self._public_scheme = parts.scheme
        self._public_host = parts.hostname or ""
        self._public_port = parts.port  # None: the scheme's default (public URLs drop it)
        self._ttl = pending_login_ttl
        self._clock = clock
        self._started_elsewhere: dict[str, float] = {}
        self._warned: set[str] = set()

    def opened_at(self, headers: Mapping[str, str], scheme: str) -> str | None:
        """The origin the browser opened (``http://localhost:8000``) when its ``Host``
        differs from ``public_url``'s; None when it is the same, missing or malformed."""
        host = headers.get("host", "")
        if not _HOST.fullmatch(host):
            return None
        split = _split(host)
        if split is None:
            return None
        name, port = split
        if name == self._public_host and (
            port == self._public_port or (self._public_port is None and port in (None, 80, 443))
        ):
            return None
        return f"{scheme if scheme in ('http', 'https') else 'http'}://{host.lower()}"

    def login_target(
        self, headers: Mapping[str, str], scheme: str, login_path: str, query: bytes
    ) -> str | None:
        """Where to send a browser starting a login at another host than ``public_url``'s:
        the same login route on ``public_url`` when both are loopback names of this machine
        on the same port and scheme (so the very same server); else None, after a warning
        for another host (the sign-in then goes on, and its callback will say why it fails).
        """
        opened = self.opened_at(headers, scheme)
        if opened is None:
            return None
        split = _split(opened.split("://", 1)[1])
        if split is not None and self._same_server(scheme, *split):
            log(
                logger,
                "redtrust.login.moved",
                "redtrust: sign-in moved from %s to REDTRUST_PUBLIC_URL %s",
                opened,
                self.public_url,
            )
            text = query.decode("latin-1")
            return f"{self.public_url}{login_path}{'?' + text if text else ''}"
        if len(self._started_elsewhere) >= _REMEMBERED:
            self._started_elsewhere.clear()
        self._started_elsewhere[opened] = self._clock()
        # Once per host (behind a proxy that rewrites Host, each login would warn), and for
        # a bounded number of hosts: made-up Host headers cannot flood the log.
        if opened not in self._warned and len(self._warned) < _WARNED:
            self._warned.add(opened)
            log(
                logger,
                "redtrust.login.foreign_host",
                "redtrust: a sign-in started at another address: %s",
                self._tell(opened),
            )
        return None

    def _same_server(self, scheme: str, host: str, port: int | None) -> bool:
        default = {"http": 80, "https": 443}.get(self._public_scheme)
        return (
            scheme == self._public_scheme
            and is_loopback(host)
            and is_loopback(self._public_host)
            and (port or default) == (self._public_port or default)
        )

    def refused_hints(
        self, headers: Mapping[str, str], scheme: str, code: str
    ) -> tuple[Text | None, str]:
        """Why a callback refused with ``code`` likely failed and what to change, as
        ``(for the page, for the log line)``: the page's to translate (None when there is
        nothing to say), the log line's in English (``""`` then).

        The page names only this request's own ``Host``; the log line also the host that
        most recently started a sign-in elsewhere (maybe this browser, maybe another client).
        """
        if code not in _NO_COOKIE_CODES:
            return None, ""
        opened = self.opened_at(headers, scheme)
        if opened is not None:
            told = self._tell(opened)
            return told, str(told)
        general = self._general() if code == "NO_PENDING_LOGIN" else None
        recent = self._recent_elsewhere()
        if recent is None:
            return general, str(general or "")
        public = self.public_url
        logged = (
            f"A sign-in started recently at {recent}, not at REDTRUST_PUBLIC_URL {public}; if "
            f"it was this browser's, Redtrust sent it back without the sign-in cookie of "
            f"{recent}: open the app at {public}, or set REDTRUST_PUBLIC_URL to {recent}."
        )
        return general, logged

    def _general(self) -> Text:
        return N_(
            "The browser sent no sign-in cookie to %(public)s: if it opened the app at "
            "another address (localhost for 127.0.0.1, another port), open the app at "
            "%(public)s and sign in there, or set REDTRUST_PUBLIC_URL to the address the "
            "browser opens.",
            public=self.public_url,
        )

    def _recent_elsewhere(self) -> str | None:
        """The host that most recently started a sign-in elsewhere, if still pending."""
        now = self._clock()
        recent = [
            (at, host) for host, at in self._started_elsewhere.items() if now - at <= self._ttl
        ]
        return max(recent)[1] if recent else None

    def _tell(self, opened: str) -> Text:
        return N_(
            "This browser opened the app at %(opened)s but REDTRUST_PUBLIC_URL is "
            "%(public)s, where Redtrust sends it back without the sign-in cookie of "
            "%(opened)s: open the app at %(public)s, or set REDTRUST_PUBLIC_URL to "
            "%(opened)s.",
            opened=opened,
            public=self.public_url,
        )
