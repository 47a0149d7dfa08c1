"""The format of API keys: ``msk_<public id>_<secret>``.

The public id is stored in clear (it finds the row and lets people recognise a key); the whole
key is stored only as its SHA-256 — keys carry 256 random bits, so a slow hash adds nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "msk_"
_PUBLIC_ID_BYTES = 9
_SECRET_BYTES = 32


@dataclass(frozen=True)
class GeneratedKey:
    prefix: str
    plaintext: str
    secret_hash: str


def generate_key() -> GeneratedKey:
    public_id = secrets.token_hex(_PUBLIC_ID_BYTES)
    prefix = f"{KEY_PREFIX}{public_id}"
    plaintext = f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return GeneratedKey(prefix=prefix, plaintext=plaintext, secret_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def prefix_of(plaintext: str) -> str | None:
    """The stored prefix of a well-formed key, or ``None``."""
    end = len(KEY_PREFIX) + 2 * _PUBLIC_ID_BYTES
    if len(plaintext) <= end + 1 or not plaintext.startswith(KEY_PREFIX) or plaintext[end] != "_":
        return None
    public_id = plaintext[len(KEY_PREFIX) : end]
    if any(character not in "0123456789abcdef" for character in public_id):
        return None
    return plaintext[:end]


def matches(plaintext: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), secret_hash)
