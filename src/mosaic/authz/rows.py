"""How a table's columns carry a resource's attributes, so rules can be compiled to SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import ColumnElement

from mosaic.authz.resources import ResourceKind, ScopeKind


@dataclass(frozen=True)
class RowColumns:
    """The columns of one resource kind's table: its scope chain, owner and visibility."""

    kind: ResourceKind
    scopes: dict[ScopeKind, ColumnElement[UUID]] = field(default_factory=dict)
    owner: ColumnElement[UUID] | None = None
    visibility: ColumnElement[str] | None = None
