"""The platform's scheduled jobs (the table of every job is ``mosaic.schedule``).

Jobs run in the leader scheduler only, each due time once (``job_runs``), in an owner
transaction: they may touch every tenant's rows. Keep each job small and idempotent — a run
that fails is retried, and a run the scheduler missed while down is not made up (only the
latest due time runs when it comes back).
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.idempotency import purge_expired_idempotency_records
from mosaic.identity import retention

logger = structlog.get_logger(__name__)


async def purge_idempotency_records(session: AsyncSession, now: datetime) -> None:
    """Expired ``Idempotency-Key`` records of every tenant."""
    purged("idempotency_records", await purge_expired_idempotency_records(session, now=now))


async def purge_refresh_tokens(session: AsyncSession, now: datetime) -> None:
    """Refresh-token families whose every token expired."""
    purged("refresh_tokens", await retention.purge_refresh_tokens(session, now=now))


async def purge_browser_sessions(session: AsyncSession, now: datetime) -> None:
    """Expired and signed-out browser sessions."""
    purged("browser_sessions", await retention.purge_browser_sessions(session, now=now))


async def purge_sign_in_leftovers(session: AsyncSession, now: datetime) -> None:
    """Abandoned OIDC logins and used or expired password-reset tokens."""
    purged("oidc_logins", await retention.purge_oidc_logins(session, now=now))
    purged("password_reset_tokens", await retention.purge_password_reset_tokens(session, now=now))


async def purge_tenant_invitations(session: AsyncSession, now: datetime) -> None:
    """Tenant invitations that lapsed unaccepted long enough ago."""
    purged("tenant_invitations", await retention.purge_tenant_invitations(session, now=now))


def purged(table: str, count: int) -> None:
    logger.info("rows_purged", table=table, count=count)
