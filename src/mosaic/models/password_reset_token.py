"""A password-reset token, mailed to the account's address and stored only as its SHA-256.

Single use (``used_at``) and short-lived (``expires_at``); a new request for the same user
deletes the user's earlier unused tokens.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin


class PasswordResetToken(IdMixin, Base):
    __tablename__ = "password_reset_tokens"
    __table_args__ = (Index(None, "user_id"),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
