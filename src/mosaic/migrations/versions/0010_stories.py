"""Stories: the moderation and consent vocabulary of the API, flag provenance, one open flag.

- ``stories.moderation_state`` gains ``removed`` (hidden and removed both vanish from readers).
- ``story_flags.resolution`` speaks the API's words: ``kept`` becomes ``dismissed``, and
  ``removed`` joins ``hidden``.
- ``consent_records.status``: ``refused`` becomes ``denied``.
- ``story_flags`` carries write provenance (seed 000 §14) like every other domain row.
- A partial unique index keeps one open flag per user per story, so two concurrent flags by
  the same user cannot both land.

The enums are varchar columns with CHECK constraints (``models.base.str_enum``): changing a
vocabulary is swapping the constraint, after the rows were rewritten to the new words.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PROVENANCE = ("actor_id", "plugin_id", "source_ip", "user_agent")


def _vocabulary(table: str, column: str, name: str, values: Sequence[str]) -> None:
    constraint = op.f(f"ck_{table}_{name}")
    op.drop_constraint(constraint, table, type_="check")
    allowed = ", ".join(f"'{value}'" for value in values)
    op.create_check_constraint(constraint, table, sa.text(f"{column} IN ({allowed})"))


def upgrade() -> None:
    _vocabulary("stories", "moderation_state", "moderation_state", ("visible", "hidden", "removed"))
    op.drop_constraint(op.f("ck_story_flags_flag_resolution"), "story_flags", type_="check")
    op.execute("UPDATE story_flags SET resolution = 'dismissed' WHERE resolution = 'kept'")
    op.create_check_constraint(
        op.f("ck_story_flags_flag_resolution"),
        "story_flags",
        sa.text("resolution IN ('dismissed', 'hidden', 'removed')"),
    )
    op.drop_constraint(op.f("ck_consent_records_consent_status"), "consent_records", type_="check")
    op.execute("UPDATE consent_records SET status = 'denied' WHERE status = 'refused'")
    op.create_check_constraint(
        op.f("ck_consent_records_consent_status"),
        "consent_records",
        sa.text("status IN ('requested', 'granted', 'denied', 'withdrawn')"),
    )

    op.add_column("story_flags", sa.Column("actor_id", sa.Uuid(), nullable=True))
    op.add_column("story_flags", sa.Column("plugin_id", sa.String(length=100), nullable=True))
    op.add_column("story_flags", sa.Column("source_ip", sa.String(length=64), nullable=True))
    op.add_column("story_flags", sa.Column("user_agent", sa.String(length=512), nullable=True))
    op.create_foreign_key(
        op.f("fk_story_flags_actor_id_users"),
        "story_flags",
        "users",
        ["actor_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "uq_story_flags_open_per_user",
        "story_flags",
        ["tenant_id", "story_id", "flagged_by"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_story_flags_open_per_user", table_name="story_flags")
    op.drop_constraint(op.f("fk_story_flags_actor_id_users"), "story_flags", type_="foreignkey")
    for column in _PROVENANCE:
        op.drop_column("story_flags", column)

    op.drop_constraint(op.f("ck_consent_records_consent_status"), "consent_records", type_="check")
    op.execute("UPDATE consent_records SET status = 'refused' WHERE status = 'denied'")
    op.create_check_constraint(
        op.f("ck_consent_records_consent_status"),
        "consent_records",
        sa.text("status IN ('requested', 'granted', 'refused', 'withdrawn')"),
    )
    op.drop_constraint(op.f("ck_story_flags_flag_resolution"), "story_flags", type_="check")
    # "removed" had no word before this revision: the nearest older decision is "hidden".
    op.execute("UPDATE story_flags SET resolution = 'hidden' WHERE resolution = 'removed'")
    op.execute("UPDATE story_flags SET resolution = 'kept' WHERE resolution = 'dismissed'")
    op.create_check_constraint(
        op.f("ck_story_flags_flag_resolution"),
        "story_flags",
        sa.text("resolution IN ('kept', 'hidden')"),
    )
    op.execute("UPDATE stories SET moderation_state = 'hidden' WHERE moderation_state = 'removed'")
    _vocabulary("stories", "moderation_state", "moderation_state", ("visible", "hidden"))
