"""A user's membership of a legacy: a scope role there, and the membership's state.

Seed 002's roles map onto scope roles (creator = owner, editor = editor, member = contributor,
viewer = viewer); its "pending" is a state: a request to join awaiting approval.
Its provenance columns tell who made the last change (the join, the approval, the role
change) and from where.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin
from mosaic.models.tenant_membership import MembershipState, ScopeRole


class LegacyMember(TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "legacy_members"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "legacy_id", "user_id"),
        Index(None, "tenant_id", "user_id"),
    )

    legacy_id: Mapped[UUID] = mapped_column(ForeignKey("legacies.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[ScopeRole] = mapped_column(str_enum(ScopeRole, "scope_role"))
    state: Mapped[MembershipState] = mapped_column(
        str_enum(MembershipState, "membership_state"), default=MembershipState.ACTIVE
    )
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
