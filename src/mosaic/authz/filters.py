"""List queries get the policy's decision as a SQL filter, compiled from the same rule table.

``read_filter`` is ``authorize`` for every row at once: a row passes the filter exactly when
``authorize`` would allow ``action`` on that row's resource (tests compare the two).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, true

from mosaic.authz.actions import Action
from mosaic.authz.policy import authorize_kind
from mosaic.authz.resources import ScopeKind
from mosaic.authz.roles import resolver
from mosaic.authz.rows import RowColumns
from mosaic.authz.rules import CROSS_TENANT, rule_for
from mosaic.authz.subject import Subject


async def read_filter(
    subject: Subject, row: RowColumns, *, action: Action = Action.LIST
) -> ColumnElement[bool]:
    """The rows of ``row.kind`` that ``subject`` may ``action``; raises ``AccessDenied`` when
    no row could ever pass (a disabled account, an API key without the scope)."""
    # Preconditions that do not depend on the row are decided once, like authorize does.
    await authorize_kind(subject, action, row.kind)
    return rows_allowed(subject, row, action=action)


# Compiled filters by (columns, action, the subject's SQL facts, role sources' generation).
# Building one costs hundreds of SQLAlchemy constructions; a user's next request reuses it.
_compiled: dict[tuple[RowColumns, Action, tuple[object, ...], int], ColumnElement[bool]] = {}
_MAX_COMPILED = 4096


def rows_allowed(subject: Subject, row: RowColumns, *, action: Action) -> ColumnElement[bool]:
    """The rule for ``(row.kind, action)`` as a SQL condition (preconditions aside)."""
    key = (row, action, subject.sql_facts, resolver.generation)
    allowed = _compiled.get(key)
    if allowed is None:
        if len(_compiled) >= _MAX_COMPILED:
            _compiled.clear()
        allowed = _compiled[key] = _compile(subject, row, action)
    return allowed


def _compile(subject: Subject, row: RowColumns, action: Action) -> ColumnElement[bool]:
    grants = [
        and_(true(), *(condition.sql(subject, row) for condition in grant))
        for grant in rule_for(row.kind, action)
    ]
    allowed = or_(false(), *grants)
    tenant = row.scopes.get(ScopeKind.TENANT)
    if (row.kind, action) not in CROSS_TENANT:
        allowed = and_(tenant == subject.tenant_id, allowed) if tenant is not None else false()
    return allowed


async def apply_read_filter(
    statement: Select[Any], subject: Subject, row: RowColumns, *, action: Action = Action.LIST
) -> Select[Any]:
    """``statement`` narrowed to the rows ``subject`` may ``action``."""
    return statement.where(await read_filter(subject, row, action=action))
