"""Content provenance (seed 000 §14): who wrote a row last, through what, from where."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class ProvenanceMixin:
    """The last write's actor, plugin, source address and user agent.

    The history of earlier writes lives where it matters (story revisions, the event log);
    erasure clears these columns for the erased user's writes.
    """

    @declared_attr
    def actor_id(cls) -> Mapped[UUID | None]:  # noqa: N805 - SQLAlchemy declared_attr signature
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    plugin_id: Mapped[str | None] = mapped_column(String(100))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
