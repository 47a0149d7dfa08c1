"""``Idempotency-Key`` on creates.

The first request with a key reserves it inside its own transaction; the response it produces
is stored in that same transaction. A retry with the same key and body gets the stored
response; the same key with another body is refused with 422. Two concurrent requests with
one key serialise on the reservation's primary key: the second waits, then replays.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, ValidationFailed
from mosaic.core.sealing import SealBroken, Sealer
from mosaic.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_SEAL_PURPOSE = "idempotency-responses/v1"
MAX_KEY_LENGTH = 255
_PENDING = 0


class IdempotentReplay(Exception):
    """Raised to answer with a stored response instead of running the create again."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same' for an idempotency key."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass
class IdempotentCreate:
    """The reservation for one create; ``respond`` stores and returns its response."""

    session: AsyncSession
    tenant_id: UUID
    principal: str
    key: str | None
    sealer: Sealer

    @classmethod
    async def reserve(
        cls,
        session: AsyncSession,
        *,
        tenant_id: UUID,
        principal: str,
        key: str | None,
        method: str,
        path: str,
        body: bytes,
        ttl: timedelta,
        sealer: Sealer,
    ) -> IdempotentCreate:
        """Reserve ``key`` for this request, or raise ``IdempotentReplay`` / 422."""
        guard = cls(
            session=session, tenant_id=tenant_id, principal=principal, key=key, sealer=sealer
        )
        if key is None:
            return guard
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationFailed(
                f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters"
            )
        fingerprint = request_fingerprint(method, path, body)
        now = datetime.now(UTC)
        where = (
            IdempotencyRecord.tenant_id == tenant_id,
            IdempotencyRecord.principal == principal,
            IdempotencyRecord.key == key,
        )
        # An expired record no longer protects anything: forget it and start afresh.
        await session.execute(
            delete(IdempotencyRecord).where(*where, IdempotencyRecord.expires_at <= now)
        )
        reserved = await session.execute(
            insert(IdempotencyRecord)
            .values(
                tenant_id=tenant_id,
                principal=principal,
                key=key,
                method=method,
                path=path,
                request_hash=fingerprint,
                status_code=_PENDING,
                response_sealed=None,
                expires_at=now + ttl,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.key)
        )
        if reserved.scalar_one_or_none() is not None:
            return guard
        record = (await session.execute(select(IdempotencyRecord).where(*where))).scalar_one()
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if record.status_code == _PENDING or record.response_sealed is None:
            # Reservations commit with their answer, so this one was committed by a route that
            # never called respond(): refuse rather than replay a response that does not exist.
            raise IdempotencyKeyInProgress()
        try:
            stored = json.loads(sealer.open(record.response_sealed, bound_to=guard._binding()))
        except SealBroken:
            # Sealed under a secret key that has since been rotated: the answer is gone.
            raise IdempotencyKeyInProgress(
                "The stored answer for this Idempotency-Key can no longer be read"
            ) from None
        headers = {**stored["headers"], REPLAY_HEADER: "true"}
        raise IdempotentReplay(
            JSONResponse(stored["body"], status_code=record.status_code, headers=headers)
        )

    async def respond(
        self,
        payload: BaseModel,
        *,
        status_code: int = 201,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """Build the response and, when a key was sent, store it with the reservation."""
        body: Any = payload.model_dump(mode="json")
        headers = headers or {}
        if self.key is not None:
            record = await self.session.get(
                IdempotencyRecord, (self.tenant_id, self.principal, self.key)
            )
            assert record is not None, "respond() without a reservation"
            record.status_code = status_code
            stored = json.dumps({"body": body, "headers": headers}).encode()
            record.response_sealed = self.sealer.seal(stored, bound_to=self._binding())
            await self.session.flush()
        return JSONResponse(body, status_code=status_code, headers=headers)

    def _binding(self) -> bytes:
        # Ties a sealed answer to its record: it cannot be replayed under another key.
        return f"{self.tenant_id}/{self.principal}/{self.key}".encode()


async def purge_expired_idempotency_records(session: AsyncSession, *, now: datetime) -> int:
    """Delete every tenant's expired records (a scheduler job, run as the owner); the count.

    ``reserve`` already forgets an expired record when its key comes back; this removes the
    ones whose key never does.
    """
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return result.rowcount if isinstance(result, CursorResult) else 0
