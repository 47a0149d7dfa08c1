"""Provenance of a write (seed 000 §14): who made it, through what, from where.

Every domain write stores these four facts in the row's provenance columns
(:class:`mosaic.models.ProvenanceMixin`); routes build one per request and pass it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Request

from mosaic.core.principal import Principal

_MAX_USER_AGENT = 512
_MAX_SOURCE_IP = 64


@dataclass(frozen=True)
class Provenance:
    actor_id: UUID | None
    source_ip: str | None = None
    user_agent: str | None = None
    plugin_id: str | None = None

    @classmethod
    def of(cls, principal: Principal, request: Request) -> Provenance:
        """The provenance of a request's writes: the acting user (an API key acts for the
        user who created it), the client's address and user agent."""
        user_agent = request.headers.get("user-agent")
        host = request.client.host if request.client else None
        return cls(
            actor_id=principal.user_id,
            source_ip=host[:_MAX_SOURCE_IP] if host else None,
            user_agent=user_agent[:_MAX_USER_AGENT] if user_agent else None,
        )

    @classmethod
    def system(cls, plugin_id: str | None = None) -> Provenance:
        """Writes made by Mosaic itself (a worker, the scheduler) or by a plugin."""
        return cls(actor_id=None, plugin_id=plugin_id)

    def columns(self) -> dict[str, Any]:
        """The values of :class:`~mosaic.models.ProvenanceMixin`'s columns."""
        return {
            "actor_id": self.actor_id,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "plugin_id": self.plugin_id,
        }
