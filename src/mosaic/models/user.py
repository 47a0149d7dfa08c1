"""A person with an account. Users are global: one user may belong to several tenants."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TimestampMixin, str_enum


class PlatformRole(StrEnum):
    """What a user may do across the whole installation (not within a tenant)."""

    ADMIN = "admin"
    MODERATOR = "moderator"
    USER = "user"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    # Stored normalised (trimmed, lower-cased) so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    display_name: Mapped[str] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    role: Mapped[PlatformRole] = mapped_column(
        str_enum(PlatformRole, "platform_role"), default=PlatformRole.USER
    )
    status: Mapped[UserStatus] = mapped_column(
        str_enum(UserStatus, "user_status"), default=UserStatus.ACTIVE
    )
    # argon2id PHC string; NULL for accounts that only sign in through an identity provider.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
