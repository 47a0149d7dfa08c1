"""The stored outcome of a create sent with an ``Idempotency-Key``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, PrimaryKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, TenantOwned


class IdempotencyRecord(TenantOwned, Base):
    __tablename__ = "idempotency_records"

    # tenant_id comes first in the primary key, as in every compound index.
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "principal", "key"),)

    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # The stored response (body and headers), sealed: a create's answer can hold a secret shown
    # once, such as a new API key, which must not rest in clear. NULL while reserved.
    response_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
