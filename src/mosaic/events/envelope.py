"""The base of every domain event and its envelope (seed 000 §6.1)."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Something that happened, named in the past tense (``StoryCreated``).

    Subclasses declare ``resource_kind`` and their payload fields; the envelope's ``type`` is
    the class name and ``version`` changes when the payload's meaning does.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: ClassVar[int] = 1
    resource_kind: ClassVar[str]

    tenant_id: UUID
    resource_id: UUID

    @classmethod
    def type_name(cls) -> str:
        """The envelope's ``type``: the class name, stable across module moves."""
        return cls.__name__

    def payload(self) -> dict[str, Any]:
        """The type-specific part of the envelope, as JSON values."""
        return self.model_dump(mode="json", exclude={"tenant_id"})
