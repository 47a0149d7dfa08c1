"""A legacy: the person or subject a community remembers; stories and media hang from it."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin
from mosaic.models.provenance import ProvenanceMixin


class Legacy(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "legacies"
    __table_args__ = (
        # A slug stays taken after a soft delete: links to the tombstone keep resolving.
        UniqueConstraint("tenant_id", "slug"),
        Index(None, "tenant_id", "id"),
        Index(None, "created_by"),
        Index("ix_legacies_name_trgm", "name", postgresql_using="gin",
              postgresql_ops={"name": "gin_trgm_ops"}),
        CheckConstraint(
            "death_date IS NULL OR birth_date IS NULL OR death_date >= birth_date",
            name="death_not_before_birth",
        ),
    )  # fmt: skip

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(120))
    birth_date: Mapped[date | None] = mapped_column(Date)
    death_date: Mapped[date | None] = mapped_column(Date)
    biography: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)
    # Soft delete: the row stays as a tombstone (id, slug, deleted_at) so links answer 410.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
