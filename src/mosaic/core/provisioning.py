"""Decide where the database is: the configured server, or the embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mosaic.core.database import DatabaseLocation
from mosaic.core.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresAlreadyRunning
from mosaic.core.settings import DatabaseSettings


@contextmanager
def provision_database(
    settings: DatabaseSettings, *, exclusive: bool
) -> Iterator[DatabaseLocation]:
    """Yield the database location for this process.

    With ``MOSAIC_DATABASE_URL`` that is the configured server. Otherwise the embedded cluster
    under ``MOSAIC_DATA_DIR`` is started and stopped again when the block ends. ``exclusive``
    processes (``mosaic serve``) refuse to run beside another one; short commands attach to
    the cluster a running server owns.
    """
    if settings.url is not None:
        yield DatabaseLocation.for_owner(settings.url, settings)
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        # Trying to take the cluster (rather than probing the lock first) leaves no window in
        # which another process could take it between the probe and the start.
        owner_url = embedded.start()
    except EmbeddedPostgresAlreadyRunning:
        if exclusive:
            raise
        owner_url = None
    if owner_url is None:
        yield DatabaseLocation.for_owner(embedded.attach(), settings)
        return
    try:
        yield DatabaseLocation.for_owner(owner_url, settings)
    finally:
        embedded.stop()
