"""An invitation to a legacy, by email or as a shareable link; single use, expiring.

Its provenance columns tell who made the last change (the invitation, its acceptance or its
revocation) and from where.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin
from mosaic.models.tenant_membership import ScopeRole


class LegacyInvitation(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "legacy_invitations"
    __table_args__ = (Index(None, "tenant_id", "legacy_id"),)

    legacy_id: Mapped[UUID] = mapped_column(ForeignKey("legacies.id", ondelete="CASCADE"))
    # None for a link invitation: whoever holds the link may accept it, once.
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[ScopeRole] = mapped_column(str_enum(ScopeRole, "scope_role"))
    # SHA-256 of the single-use token in the invitation link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
