"""The security audit log: who did what, from where, with which outcome.

Successful actions are recorded in the request's own transaction, so the record commits with
the change. Failures (a wrong password, a replayed refresh token) are recorded in a transaction
of their own: the request's transaction rolls back with the error, the record must not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.ids import new_id
from mosaic.models import AuditEvent

logger = structlog.get_logger(__name__)

_MAX_USER_AGENT = 512


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    REGISTER = "register"
    TOKEN_REFRESHED = "token_refreshed"  # noqa: S105 - an event name, not a secret
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - an event name
    ACCESS_DENIED = "access_denied"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    ROLE_CHANGED = "role_changed"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"
    ACCOUNT_ERASED = "account_erased"
    IDENTITY_LINKED = "identity_linked"
    IDENTITY_UNLINKED = "identity_unlinked"
    INVITATION_CREATED = "invitation_created"
    INVITATION_ACCEPTED = "invitation_accepted"
    MEMBER_REMOVED = "member_removed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 - an event name
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name
    SIGNING_KEY_ROTATED = "signing_key_rotated"
    DEAD_LETTER_REPLAYED = "dead_letter_replayed"
    DEAD_LETTER_DISCARDED = "dead_letter_discarded"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as far as the server can tell."""

    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, request: Request) -> Origin:
        user_agent = request.headers.get("user-agent")
        return cls(
            ip_address=request.client.host if request.client else None,
            user_agent=user_agent[:_MAX_USER_AGENT] if user_agent else None,
        )


@dataclass(frozen=True)
class AuditRecord:
    action: AuditAction
    outcome: str = "success"
    tenant_id: UUID | None = None
    actor_user_id: UUID | None = None
    actor: str | None = None
    subject: str | None = None
    reason: str | None = None
    origin: Origin = field(default_factory=Origin)
    details: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> AuditEvent:
        return AuditEvent(
            id=new_id(),
            tenant_id=self.tenant_id,
            action=self.action.value,
            outcome=self.outcome,
            actor_user_id=self.actor_user_id,
            actor=self.actor,
            subject=self.subject,
            reason=self.reason,
            ip_address=self.origin.ip_address,
            user_agent=self.origin.user_agent,
            details=self.details,
        )


async def record(session: AsyncSession, entry: AuditRecord) -> None:
    """Record an event in the caller's transaction (it commits with the change it audits)."""
    session.add(entry.to_row())
    await session.flush()
    logger.info("audit", action=entry.action.value, outcome=entry.outcome, reason=entry.reason)


async def record_independently(
    sessionmaker: async_sessionmaker[AsyncSession], entry: AuditRecord
) -> None:
    """Record an event in a transaction of its own, which survives the caller's rollback."""
    async with sessionmaker() as session, session.begin():
        session.add(entry.to_row())
    logger.info("audit", action=entry.action.value, outcome=entry.outcome, reason=entry.reason)
