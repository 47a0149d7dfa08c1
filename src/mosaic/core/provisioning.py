"""Decide where the database is: the configured server, or the embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from mosaic.core.database import DatabaseLocation
from mosaic.core.embedded_postgres import EmbeddedPostgres
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
    if not exclusive and _is_owned_by_another_process(embedded):
        yield DatabaseLocation.for_owner(embedded.attach(), settings)
        return
    with embedded as owner_url:
        yield DatabaseLocation.for_owner(owner_url, settings)


def _is_owned_by_another_process(embedded: EmbeddedPostgres) -> bool:
    lock_path = embedded.data_dir / "mosaic.lock"
    if not lock_path.exists():
        return False
    probe = FileLock(lock_path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False
