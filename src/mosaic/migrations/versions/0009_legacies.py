"""Legacies: provenance on legacy memberships and legacy invitations.

Seed 000 §14 asks every write to store its actor, source address and user agent. Migration
0008 gave ``legacies`` the provenance columns (``ProvenanceMixin``) but not
``legacy_members`` and ``legacy_invitations``, whose writes (joining, approving, changing a
role, inviting, accepting, revoking) are writes like any other. This adds the four columns to
both tables, ``actor_id`` referencing ``users`` ON DELETE SET NULL as on ``legacies``; the
erasure function of migration 0012 clears them for an erased user's writes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("legacy_members", "legacy_invitations")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("plugin_id", sa.String(length=100), nullable=True))
        op.add_column(table, sa.Column("source_ip", sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column("user_agent", sa.String(length=512), nullable=True))
        op.add_column(table, sa.Column("actor_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_{table}_actor_id_users"),
            table,
            "users",
            ["actor_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_constraint(op.f(f"fk_{table}_actor_id_users"), table, type_="foreignkey")
        op.drop_column(table, "actor_id")
        op.drop_column(table, "user_agent")
        op.drop_column(table, "source_ip")
        op.drop_column(table, "plugin_id")
