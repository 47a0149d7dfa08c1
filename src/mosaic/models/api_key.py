"""An API key: a credential for a service or integration, bound to one tenant."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin


class ApiKey(IdMixin, TimestampMixin, TenantOwned, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "tenant_id", "id"),)

    name: Mapped[str] = mapped_column(String(100))
    # The public part of the key, shown in lists and used to find the row; unique everywhere.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    # SHA-256 of the whole key: keys are 256-bit random, so a fast hash is enough.
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The user who created the key; NULL for keys made by operators with the CLI.
    created_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
