"""Signed, expiring tokens for the local store's upload and download URLs.

A token is the whole credential of ``PUT``/``GET /media/blobs/{token}``, as a presigned URL
is for S3: it names the operation, the key, the content type, the most bytes an upload may
send and when it expires, under an HMAC whose key is derived from the secret key for this
purpose alone (the same HKDF derivation as ``core.sealing``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PURPOSE = "media-blob-tokens/v1"  # noqa: S105 - a key derivation label
# Real tokens are a few hundred characters; refuse to decode anything much longer.
_MAX_TOKEN_CHARS = 2048


class BlobOperation(StrEnum):
    PUT = "put"
    GET = "get"


class InvalidBlobToken(ValueError):
    """Tampered, malformed, for another operation, or expired."""


@dataclass(frozen=True)
class BlobGrant:
    """What a token allows."""

    op: BlobOperation
    key: str
    content_type: str
    expires_at: int  # Unix seconds
    max_bytes: int = 0


@dataclass(frozen=True)
class BlobTokens:
    key: bytes

    @classmethod
    def for_secret(cls, secret_key: str) -> BlobTokens:
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"mosaic", info=TOKEN_PURPOSE.encode()
        )
        return cls(hkdf.derive(secret_key.encode()))

    def issue(self, grant: BlobGrant) -> str:
        payload = _b64(json.dumps(asdict(grant), separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def verify(self, token: str, *, op: BlobOperation, now: float) -> BlobGrant:
        """The grant of a token this store issued for ``op``, still valid at ``now``."""
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            raise InvalidBlobToken("malformed token")
        payload, signature = token.split(".")
        try:
            if not hmac.compare_digest(_unb64(signature), self._sign(payload)):
                raise InvalidBlobToken("bad signature")
            fields = json.loads(_unb64(payload))
            grant = BlobGrant(**{**fields, "op": BlobOperation(fields["op"])})
        except (binascii.Error, ValueError, TypeError, KeyError) as error:
            raise InvalidBlobToken("malformed token") from error
        if grant.op is not op:
            raise InvalidBlobToken("token for another operation")
        if grant.expires_at <= now:
            raise InvalidBlobToken("expired")
        return grant

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
