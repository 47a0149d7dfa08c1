"""An embedded PostgreSQL for the benchmarks that run in-process: started under a scratch
directory, migrated to head, stopped afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mosaic.core.database import DatabaseLocation
from mosaic.core.embedded_postgres import EmbeddedPostgres
from mosaic.core.settings import DatabaseSettings
from mosaic.migrations import runner


@asynccontextmanager
async def migrated_cluster(
    data_dir: Path, database: DatabaseSettings
) -> AsyncIterator[DatabaseLocation]:
    """A cluster under ``data_dir`` with Mosaic's schema; where to reach it, as ``database``
    configures the roles."""
    cluster = EmbeddedPostgres(data_dir / "postgres")
    cluster.start()
    try:
        location = DatabaseLocation.for_owner(cluster.url(), database)
        await asyncio.to_thread(runner.upgrade, location.owner_url, database)
        yield location
    finally:
        cluster.stop()
