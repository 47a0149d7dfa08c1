"""Authenticated encryption of small values at rest, under keys derived from the secret key.

Each purpose gets its own key (HKDF-SHA256 with the purpose as ``info``), so a value sealed for
one purpose cannot be opened as another; the associated data binds a sealed value to the row
it belongs to, so it cannot be moved to another row either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class SealBroken(InvalidTag):
    """A sealed value was altered, belongs elsewhere, or was sealed under another secret.

    An ``InvalidTag`` still, for callers that handle the cipher's own error."""


@dataclass(frozen=True)
class Sealer:
    """AES-256-GCM under one purpose's key."""

    _aead: AESGCM

    @staticmethod
    @lru_cache(maxsize=16)
    def for_secret(secret_key: str, purpose: str) -> Sealer:
        """The sealer for ``purpose``, its key derived from ``secret_key``."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mosaic", info=purpose.encode())
        return Sealer(AESGCM(hkdf.derive(secret_key.encode())))

    def seal(self, plaintext: bytes, *, bound_to: bytes) -> bytes:
        """Encrypt ``plaintext``; it will only open with the same ``bound_to``."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to)

    def open(self, sealed: bytes, *, bound_to: bytes) -> bytes:
        """Decrypt a value sealed by ``seal`` with the same ``bound_to``."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, bound_to)
        except InvalidTag:
            raise SealBroken() from None
