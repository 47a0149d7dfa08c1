"""Request and response bodies of the privacy routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class EraseConfirmation(BaseModel):
    """Erasure cannot be undone: the caller types the account's email address to confirm."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(min_length=3, max_length=320, description="The account's email address")


class PersonalDataRead(BaseModel):
    """Everything Mosaic holds about a user, by table, as contributed by each package."""

    user_id: UUID
    tenant_id: UUID
    generated_at: datetime
    sections: dict[str, list[dict[str, Any]]]
