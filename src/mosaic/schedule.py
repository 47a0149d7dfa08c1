"""Every scheduled job, in one visible table: the scheduler's composition root.

Jobs run in the leader scheduler only, each due time once (``job_runs``), in an owner
transaction. Platform jobs live in ``mosaic.scheduling.jobs``; a domain module's job is a
function of its own, given here what it needs (the blob store) from the settings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.settings import Settings
from mosaic.events.retention import purge_published
from mosaic.media import tasks as media_tasks
from mosaic.media.storage import build_blob_store
from mosaic.scheduling.job import Job
from mosaic.scheduling.jobs import (
    purge_browser_sessions,
    purge_idempotency_records,
    purge_refresh_tokens,
    purge_sign_in_leftovers,
    purge_tenant_invitations,
    purged,
)
from mosaic.scheduling.schedules import Cron, Every


def scheduled_jobs(settings: Settings) -> tuple[Job, ...]:
    """Every scheduled job of this installation; jobs that need a resource (the blob store)
    get the one the settings configure."""
    store = build_blob_store(settings)
    retention = timedelta(days=settings.events.retention_days)

    async def purge_expired_uploads(session: AsyncSession, now: datetime) -> None:
        """Uploads presigned but never registered: rows and any bytes that did arrive."""
        purged("media", await media_tasks.purge_expired_uploads(session, store, now))

    async def purge_published_events(session: AsyncSession, now: datetime) -> None:
        """Published outbox rows past the replay window (``MOSAIC_EVENTS_RETENTION_DAYS``)."""
        purged("outbox_events", await purge_published(session, older_than=now - retention))

    return (
        Job("core.purge_idempotency_records", Every(minutes=15), purge_idempotency_records),
        Job("identity.purge_refresh_tokens", Cron("17 * * * *"), purge_refresh_tokens),
        Job("identity.purge_browser_sessions", Cron("23 * * * *"), purge_browser_sessions),
        Job("identity.purge_sign_in_leftovers", Every(minutes=10), purge_sign_in_leftovers),
        Job("identity.purge_tenant_invitations", Cron("41 3 * * *"), purge_tenant_invitations),
        Job("media.purge_expired_uploads", Every(minutes=15), purge_expired_uploads),
        Job("events.purge_published", Cron("7 4 * * *"), purge_published_events),
    )
