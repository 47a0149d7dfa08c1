"""Legacies (slot for the legacies package): no schema change.

Reserved in the migration chain so that packages built in parallel keep one linear history.
The legacies package needs nothing beyond migration 0008: its tables, their row-level security
and the GIN trigram index on ``legacies.name`` that search uses (``ix_legacies_name_trgm``)
are created there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
