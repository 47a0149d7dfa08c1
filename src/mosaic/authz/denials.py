"""Denials of write actions go to the audit trail, in a transaction of their own (the request's
transaction rolls back with the 403; the record must not)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.authz.actions import Action
from mosaic.authz.subject import Subject
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record_independently


@dataclass(frozen=True)
class AuditedDenials:
    """A ``DenialSink`` writing an ``access_denied`` audit record per denied write."""

    sessionmaker: async_sessionmaker[AsyncSession]
    origin: Origin

    async def record(self, subject: Subject, action: Action, target: str, reason: str) -> None:
        entry = AuditRecord(
            action=AuditAction.ACCESS_DENIED,
            outcome="denied",
            tenant_id=subject.tenant_id,
            actor_user_id=subject.user_id,
            actor=subject.principal.key,
            subject=target,
            reason=reason,
            origin=self.origin,
            details={"action": action.value},
        )
        await record_independently(self.sessionmaker, entry)
