"""Every scheduled job, in one visible table.

Jobs run in the leader scheduler only, each due time once (``job_runs``), in an owner
transaction: they may touch every tenant's rows. Keep each job small and idempotent — a run
that fails is retried, and a run the scheduler missed while down is not made up (only the
latest due time runs when it comes back).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.idempotency import purge_expired_idempotency_records
from mosaic.core.settings import Settings
from mosaic.events.retention import purge_published
from mosaic.identity import retention
from mosaic.media import tasks as media_tasks
from mosaic.media.storage import build_blob_store
from mosaic.scheduling.job import Job
from mosaic.scheduling.schedules import Cron, Every

logger = structlog.get_logger(__name__)


async def purge_idempotency_records(session: AsyncSession, now: datetime) -> None:
    """Expired ``Idempotency-Key`` records of every tenant."""
    _purged("idempotency_records", await purge_expired_idempotency_records(session, now=now))


async def purge_refresh_tokens(session: AsyncSession, now: datetime) -> None:
    """Refresh-token families whose every token expired."""
    _purged("refresh_tokens", await retention.purge_refresh_tokens(session, now=now))


async def purge_browser_sessions(session: AsyncSession, now: datetime) -> None:
    """Expired and signed-out browser sessions."""
    _purged("browser_sessions", await retention.purge_browser_sessions(session, now=now))


async def purge_sign_in_leftovers(session: AsyncSession, now: datetime) -> None:
    """Abandoned OIDC logins and used or expired password-reset tokens."""
    _purged("oidc_logins", await retention.purge_oidc_logins(session, now=now))
    _purged("password_reset_tokens", await retention.purge_password_reset_tokens(session, now=now))


async def purge_tenant_invitations(session: AsyncSession, now: datetime) -> None:
    """Tenant invitations that lapsed unaccepted long enough ago."""
    _purged("tenant_invitations", await retention.purge_tenant_invitations(session, now=now))


def _purged(table: str, count: int) -> None:
    logger.info("rows_purged", table=table, count=count)


def scheduled_jobs(settings: Settings) -> tuple[Job, ...]:
    """Every scheduled job of this installation; jobs that need a resource (the blob store)
    get the one the settings configure."""
    store = build_blob_store(settings)
    retention = timedelta(days=settings.events.retention_days)

    async def purge_expired_uploads(session: AsyncSession, now: datetime) -> None:
        """Uploads presigned but never registered: rows and any bytes that did arrive."""
        _purged("media", await media_tasks.purge_expired_uploads(session, store, now))

    async def purge_published_events(session: AsyncSession, now: datetime) -> None:
        """Published outbox rows past the replay window (``MOSAIC_EVENTS_RETENTION_DAYS``)."""
        _purged("outbox_events", await purge_published(session, older_than=now - retention))

    return (
        Job("core.purge_idempotency_records", Every(minutes=15), purge_idempotency_records),
        Job("identity.purge_refresh_tokens", Cron("17 * * * *"), purge_refresh_tokens),
        Job("identity.purge_browser_sessions", Cron("23 * * * *"), purge_browser_sessions),
        Job("identity.purge_sign_in_leftovers", Every(minutes=10), purge_sign_in_leftovers),
        Job("identity.purge_tenant_invitations", Cron("41 3 * * *"), purge_tenant_invitations),
        Job("media.purge_expired_uploads", Every(minutes=15), purge_expired_uploads),
        Job("events.purge_published", Cron("7 4 * * *"), purge_published_events),
    )
