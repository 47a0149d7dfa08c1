"""How a table's columns carry a resource's attributes, so rules can be compiled to SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import SQLColumnExpression

from mosaic.authz.resources import ResourceKind, ScopeKind


@dataclass(frozen=True, eq=False)
class RowColumns:
    """The columns of one resource kind's table: its scope chain, owner and visibility.

    Compared (and hashed) by identity: each is a module constant, and compiled filters are
    cached per instance.
    """

    kind: ResourceKind
    scopes: dict[ScopeKind, SQLColumnExpression[Any]] = field(default_factory=dict)
    owner: SQLColumnExpression[Any] | None = None
    visibility: SQLColumnExpression[Any] | None = None
