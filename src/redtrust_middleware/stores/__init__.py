"""Session stores: the protocol, the in-memory default, and sealing of records at rest."""

from .base import AsyncStore, Store
from .memory import MemoryStore
from .sealing import Keyring

__all__ = ["AsyncStore", "Keyring", "MemoryStore", "Store"]
