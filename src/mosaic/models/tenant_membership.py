"""A user's membership of a tenant: a role at the tenant scope, and the membership's state."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, TenantOwned, TimestampMixin, str_enum


class ScopeRole(StrEnum):
    """Roles at a scope (tenant, legacy, story), strongest first; inherited downward."""

    OWNER = "owner"
    EDITOR = "editor"
    CONTRIBUTOR = "contributor"
    VIEWER = "viewer"


class MembershipState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"


class TenantMembership(TimestampMixin, TenantOwned, Base):
    __tablename__ = "tenant_memberships"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "user_id"),
        Index(None, "user_id"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[ScopeRole] = mapped_column(str_enum(ScopeRole, "scope_role"))
    state: Mapped[MembershipState] = mapped_column(
        str_enum(MembershipState, "membership_state"), default=MembershipState.ACTIVE
    )
