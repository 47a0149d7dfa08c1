"""A key that signs access tokens. Keys rotate: a new one signs, retired ones still verify
until every token they signed has expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    # The private key, encrypted with a key derived from MOSAIC_SECRET_KEY.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Tokens are signed by the newest key not yet retired.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
