"""Alembic environment: runs migrations as the database owner over asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mosaic.models import Base

config = context.config
target_metadata = Base.metadata

# Serialises concurrent migrators (two replicas starting, a CLI command beside `mosaic serve`):
# the second waits, then finds nothing left to do. An arbitrary constant, unique to Mosaic.
MIGRATION_LOCK_KEY = 0x6D6F736169630001


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.attributes["owner_url"]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            await connection.commit()
            try:
                await connection.run_sync(_run)
                await connection.commit()
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported: run `mosaic migrate`.")

asyncio.run(_run_online())
