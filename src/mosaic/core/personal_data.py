"""The shape of subject-access contributors: each domain package reports the personal data its
tables hold about one user, and names the columns it covers.

A contributor lives in its own package (``<package>/personal_data.py``) so the knowledge of a
table stays with the package that owns it; ``mosaic.privacy.contributors`` lists them all in
one table, and a test fails when a column referencing ``users.id`` is covered by none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

# Columns never exported, whatever table they are in: hashes of secrets and credentials.
SECRET_COLUMNS = frozenset(
    {"password_hash", "secret_hash", "token_hash", "session_hash", "csrf_hash", "code_verifier"}
)

Sections = dict[str, list[dict[str, Any]]]
Collect = Callable[[AsyncSession, UUID], Awaitable[Sections]]


@dataclass(frozen=True)
class Contributor:
    """One package's part of a subject access answer.

    ``covers`` names the ``table.column`` pairs referencing a user that ``collect`` reports,
    so a test can check every such column in the schema is covered by some contributor.
    """

    package: str
    collect: Collect
    covers: frozenset[str]


def _json_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


def record_of(row: object) -> dict[str, Any]:
    """A mapped row as JSON values, without the columns in ``SECRET_COLUMNS``."""
    mapper = inspect(type(row))
    return {
        attribute.key: _json_value(getattr(row, attribute.key))
        for attribute in mapper.column_attrs
        if attribute.key not in SECRET_COLUMNS
    }


def records_of(rows: Iterable[object]) -> list[dict[str, Any]]:
    return [record_of(row) for row in rows]
