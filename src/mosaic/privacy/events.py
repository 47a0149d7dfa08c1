"""Domain events of the privacy module; payloads carry ids and counts, never personal data."""

from __future__ import annotations

from typing import ClassVar

from mosaic.events import DomainEvent


class UserErased(DomainEvent):
    """A user's account was erased: consumers drop what they hold about ``resource_id``
    (search indexes, graph nodes, caches)."""

    resource_kind: ClassVar[str] = "user"

    by_self: bool
    blobs_deleted: int
