"""UUIDv7 identifiers: time-ordered like ULIDs, stored as PostgreSQL ``uuid``."""

from uuid import UUID

import uuid_utils


def new_id() -> UUID:
    """A new UUIDv7 as a standard-library ``UUID``."""
    return UUID(bytes=uuid_utils.uuid7().bytes)
