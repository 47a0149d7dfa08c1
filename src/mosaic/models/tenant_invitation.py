"""An invitation to join a tenant, sent to an email address; single use, expiring."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.tenant_membership import ScopeRole


class TenantInvitation(IdMixin, TimestampMixin, TenantOwned, Base):
    __tablename__ = "tenant_invitations"
    __table_args__ = (Index(None, "tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[ScopeRole] = mapped_column(str_enum(ScopeRole, "scope_role"))
    # SHA-256 of the single-use token sent in the invitation link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
