"""What a subject may try to do to a resource."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    READ = "read"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MANAGE_MEMBERS = "manage_members"
    MODERATE = "moderate"
    ACCEPT = "accept"

    @property
    def writes(self) -> bool:
        """Whether the action changes something (its denials are audited, not just logged)."""
        return self not in {Action.READ, Action.LIST}
