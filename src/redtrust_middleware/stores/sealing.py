"""Encryption at rest: every record is sealed with AES-256-GCM before it reaches a store.

The record's store key is the associated data, so a sealed value moved to another key does
not open. Keys rotate: the first key seals, every key opens. A record that does not open
(tampered, truncated, or sealed with a retired key) reads as absent: the user signs in again.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Keyring", "derive_keys"]

_VERSION = b"\x01"
_KEY_ID_LENGTH = 4
_NONCE_LENGTH = 12


def derive_keys(secrets_: Iterable[object], label: str) -> tuple[str, ...]:
    """Encryption keys from a framework's own secrets (Django's ``SECRET_KEY`` and
    ``SECRET_KEY_FALLBACKS``, Flask's ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``), newest
    first: the first seals, all open, so rotating the framework's key keeps users signed in.

    Each is hashed with ``label`` (``"redtrust-django/v1"``, ``"redtrust-flask/v1"``), so the
    key differs from the framework's own uses of its secret; empty secrets are skipped. A
    label and a secret always give the same key: records sealed before stay readable.
    """
    prefix = label.encode("utf-8") + b":"
    return tuple(hashlib.sha256(prefix + str(s).encode()).hexdigest() for s in secrets_ if s)


def _derive(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"redtrust-middleware/store/v1"
    ).derive(secret.encode("utf-8"))


class Keyring:
    """Seals and opens records with a list of keys (newest first).

    Keys are secret strings of at least 32 characters; each is stretched with HKDF-SHA256.
    ``Keyring.ephemeral()`` makes a random key for one process (sessions end on restart).
    """

    __slots__ = ("_ciphers", "_primary")

    def __init__(self, secrets_: Sequence[str]) -> None:
        if not secrets_:
            raise ValueError("a keyring needs at least one key")
        self._ciphers: dict[bytes, AESGCM] = {}
        for secret in secrets_:
            key = _derive(secret)
            self._ciphers.setdefault(hashlib.sha256(key).digest()[:_KEY_ID_LENGTH], AESGCM(key))
        self._primary = hashlib.sha256(_derive(secrets_[0])).digest()[:_KEY_ID_LENGTH]

    @classmethod
    def ephemeral(cls) -> Keyring:
        """A keyring with one random key that lives as long as this process."""
        return cls([secrets.token_urlsafe(48)])

    def __repr__(self) -> str:
        return f"Keyring(keys={len(self._ciphers)})"

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        """Encrypt ``plaintext``, bound to ``context`` (the store key)."""
        nonce = os.urandom(_NONCE_LENGTH)
        sealed = self._ciphers[self._primary].encrypt(nonce, plaintext, context.encode())
        return _VERSION + self._primary + nonce + sealed

    def open(self, blob: bytes, *, context: str) -> bytes | None:
        """Decrypt, or None when the blob is not one of ours for this context."""
        header = 1 + _KEY_ID_LENGTH + _NONCE_LENGTH
        if len(blob) <= header or blob[:1] != _VERSION:
            return None
        cipher = self._ciphers.get(blob[1 : 1 + _KEY_ID_LENGTH])
        if cipher is None:
            return None
        try:
            return cipher.decrypt(
                blob[1 + _KEY_ID_LENGTH : header], blob[header:], context.encode()
            )
        except InvalidTag:
            return None

    def needs_reseal(self, blob: bytes) -> bool:
        """True when ``blob`` was sealed with a key other than the newest."""
        return blob[1 : 1 + _KEY_ID_LENGTH] != self._primary
