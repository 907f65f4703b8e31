"""The sandbox's certificate requests and certificates, behind their own lock.

``csr/create`` opens a *pending request* holding the private key the sandbox generated;
``csr/finalize`` moves that key, with the certificate the partner's CA issued, into the user's
list of certificates, and leaves a *finalized* marker so a second finalize is answered "already
finalized". A renewal's finalize removes the renewed certificate from the list.

Memory is bounded like :class:`~._state.SandboxState`: a pending request is forgotten
``csr_request_ttl`` seconds after its creation, a finalized marker ``retention_seconds`` after
the finalize; every table is capped (``SandboxConfig.max_csr_*`` and ``max_certificates*``;
the oldest goes first). Tables are kept in forgetting order, so housekeeping only pops records
off their front.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._clock import Clock
from ._config import SandboxConfig
from ._csr import CreateRequest, PrivateKey
from ._errors import (
    FOREIGN_REQUEST_CODE,
    KEY_MISMATCH,
    REQUEST_CODE_USED,
    UNKNOWN_CERTIFICATE,
    UNKNOWN_REQUEST_CODE,
    Reject,
)

__all__ = ["CertificateInfo", "EnrollmentState", "thumbprint_of"]


def thumbprint_of(certificate: x509.Certificate) -> str:
    """SHA-1 of the certificate's DER, upper-case hex (the Windows and Redtrust habit)."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - an identifier


def _spki(key: x509.Certificate | PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """A certificate stored by the sandbox for a user (its private key stays inside)."""

    id_certificate: str
    thumbprint: str
    username: str
    certificate: x509.Certificate = field(repr=False)
    request_code: str
    finalized_at: float
    #: The thumbprint of the certificate this one replaced, for a renewal.
    renewed_from: str | None
    key_type: str
    key_length: int
    provider: str | None
    info: Mapping[str, str]
    group_ids: tuple[int, ...]


@dataclass(slots=True)
class _Request:
    request_code: str
    username: str
    partner: str | None  # the session's: None for one opened without HMAC headers
    spec: CreateRequest
    key: PrivateKey | None = field(repr=False)  # None once finalized: the certificate has it
    created_at: float
    finalized_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    info: CertificateInfo
    key: PrivateKey = field(repr=False)


class EnrollmentState:
    """The request and certificate tables; see the module docstring."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self._pending: OrderedDict[str, _Request] = OrderedDict()  # by creation (= expiry)
        self._pending_by_user: dict[str, OrderedDict[str, None]] = {}
        self._finalized: OrderedDict[str, _Request] = OrderedDict()  # by finalization
        self._certificates: dict[str, OrderedDict[str, _Stored]] = {}  # user -> thumbprint
        self._issued: OrderedDict[str, str] = OrderedDict()  # thumbprint -> user, oldest first

    def _housekeep(self, now: float) -> None:
        ttl, retention = self.config.csr_request_ttl, self.config.retention_seconds
        while self._pending and now >= next(iter(self._pending.values())).created_at + ttl:
            self._drop_pending(next(iter(self._pending)))
        finalized = self._finalized
        while finalized:
            done_at = next(iter(finalized.values())).finalized_at
            if done_at is not None and now < done_at + retention:
                break
            finalized.popitem(last=False)

    def _drop_pending(self, code: str) -> _Request:
        request = self._pending.pop(code)
        mine = self._pending_by_user[request.username]
        del mine[code]
        if not mine:
            del self._pending_by_user[request.username]
        return request

    def _owned(self, username: str, thumbprint: str) -> _Stored:
        mine = self._certificates.get(username)
        stored = None if mine is None else mine.get(thumbprint)
        if stored is None:
            raise Reject(404, UNKNOWN_CERTIFICATE, "the certificate to renew is not the user's")
        return stored

    def check_renewable(self, username: str, thumbprint: str) -> None:
        """404 ``UNKNOWN_CERTIFICATE`` unless ``username`` holds ``thumbprint``."""
        with self.lock:
            self._housekeep(self.clock())
            self._owned(username, thumbprint)

    def open_request(
        self, *, username: str, partner: str | None, spec: CreateRequest, key: PrivateKey
    ) -> str:
        """Keep a pending request with its private key; its new request code."""
        config = self.config
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            mine = self._pending_by_user.get(username)
            if mine is not None and len(mine) >= config.max_csr_requests_per_user:
                self._drop_pending(next(iter(mine)))
            while len(self._pending) >= config.max_csr_requests:
                self._drop_pending(next(iter(self._pending)))
            code = secrets.token_urlsafe(18)
            self._pending[code] = _Request(code, username, partner, spec, key, now)
            self._pending_by_user.setdefault(username, OrderedDict())[code] = None
        return code

    def finalize(
        self,
        *,
        username: str,
        partner: str | None,
        request_code: str,
        certificate: x509.Certificate,
    ) -> CertificateInfo:
        """Store ``certificate`` for the pending request ``request_code`` of this caller.

        Raises :class:`Reject`: 404 unknown code, 403 another user's (or partner's), 409 already
        finalized, 400 key mismatch, 404 a renewed certificate that is gone. Nothing changes
        on a refusal.
        """
        with self.lock:
            now = self.clock()
            self._housekeep(now)
            request = self._pending.get(request_code) or self._finalized.get(request_code)
            if request is None:
                raise Reject(404, UNKNOWN_REQUEST_CODE, "the request code is unknown")
            if (request.username, request.partner) != (username, partner):
                raise Reject(403, FOREIGN_REQUEST_CODE, "the request belongs to another user")
            if request.key is None:
                raise Reject(409, REQUEST_CODE_USED, "the request was already finalized")
            if _spki(certificate) != _spki(request.key):
                raise Reject(400, KEY_MISMATCH, "the certificate's key is not the request's")
            spec = request.spec
            renewed = spec.thumbprint_to_renew
            old = None if renewed is None else self._owned(username, renewed).info
            stored = _Stored(self._record(request, certificate, old, now), request.key)
            if renewed is not None:
                del self._certificates[username][renewed]
                del self._issued[renewed]
            self._keep(stored)
            self._drop_pending(request_code)
            request.key, request.finalized_at = None, now
            self._finalized[request_code] = request
            while len(self._finalized) > self.config.max_csr_requests:
                self._finalized.popitem(last=False)
        return stored.info

    @staticmethod
    def _record(
        request: _Request, certificate: x509.Certificate, old: CertificateInfo | None, now: float
    ) -> CertificateInfo:
        """The new certificate's record; a renewal keeps what the request leaves unset."""
        spec = request.spec
        return CertificateInfo(
            id_certificate=secrets.token_hex(8),
            thumbprint=thumbprint_of(certificate),
            username=request.username,
            certificate=certificate,
            request_code=request.request_code,
            finalized_at=now,
            renewed_from=None if old is None else old.thumbprint,
            key_type=spec.key_type,
            key_length=spec.key_length,
            provider=spec.provider if spec.provider or old is None else old.provider,
            info=spec.info if spec.info or old is None else MappingProxyType(dict(old.info)),
            group_ids=spec.group_ids if spec.group_ids or old is None else old.group_ids,
        )

    def _keep(self, stored: _Stored) -> None:
        info = stored.info
        mine = self._certificates.setdefault(info.username, OrderedDict())
        if len(mine) >= self.config.max_certificates_per_user:
            oldest, _ = mine.popitem(last=False)
            del self._issued[oldest]
        while len(self._issued) >= self.config.max_certificates:
            thumbprint, owner = self._issued.popitem(last=False)
            theirs = self._certificates[owner]
            del theirs[thumbprint]
            if not theirs:
                del self._certificates[owner]
        mine = self._certificates.setdefault(info.username, OrderedDict())
        mine[info.thumbprint] = stored
        self._issued[info.thumbprint] = info.username

    def certificates_for(self, username: str) -> list[CertificateInfo]:
        """The certificates ``username`` holds now, oldest first."""
        with self.lock:
            self._housekeep(self.clock())
            mine = self._certificates.get(username)
            return [] if mine is None else [s.info for s in mine.values()]

    def record_counts(self) -> dict[str, int]:
        """The size of every table (for tests of the bounds)."""
        with self.lock:
            self._housekeep(self.clock())
            return {
                "csr_requests": len(self._pending),
                "csr_request_users": len(self._pending_by_user),
                "finalized_requests": len(self._finalized),
                "certificates": len(self._issued),
                "certificate_users": len(self._certificates),
            }
