"""Media: what processing learnt about an uploaded image.

A thumbnail blob's key, the image's size and EXIF facts, when processing ran and why it
failed (an unreadable image is recorded, not retried forever).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("media", sa.Column("thumbnail_key", sa.String(length=1024), nullable=True))
    op.add_column("media", sa.Column("width", sa.Integer(), nullable=True))
    op.add_column("media", sa.Column("height", sa.Integer(), nullable=True))
    op.add_column(
        "media",
        sa.Column("image_metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("media", sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("media", sa.Column("processing_error", sa.String(length=200), nullable=True))


def downgrade() -> None:
    for column in (
        "processing_error",
        "processed_at",
        "image_metadata",
        "height",
        "width",
        "thumbnail_key",
    ):
        op.drop_column("media", column)
