"""Seal stored idempotent responses: a create's answer can carry a secret shown once.

The clear ``response_body`` / ``response_headers`` become one encrypted ``response_sealed``.
Stored answers are a retry cache of at most a day, so both directions drop them rather than
convert them (a retry after the upgrade runs as a new request).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_records")
    op.drop_column("idempotency_records", "response_body")
    op.drop_column("idempotency_records", "response_headers")
    op.add_column(
        "idempotency_records", sa.Column("response_sealed", sa.LargeBinary(), nullable=True)
    )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_records")
    op.drop_column("idempotency_records", "response_sealed")
    op.add_column("idempotency_records", sa.Column("response_headers", sa.JSON(), nullable=False))
    op.add_column("idempotency_records", sa.Column("response_body", sa.JSON(), nullable=False))
