"""Event bus: the outbox's wake-up, PostgreSQL queues, dead letters, idempotency, audit trail.

- ``outbox_events`` NOTIFYs ``mosaic_outbox`` on insert (delivered at commit), so the relay
  publishes within milliseconds instead of at its next poll.
- ``event_subscriptions`` / ``event_deliveries``: the PostgreSQL bus (a queue per consumer,
  consumed with ``FOR UPDATE SKIP LOCKED``); owner-only platform tables.
- ``event_dead_letters``: every backend's dead letters; the application role may read and
  discard them (the admin API), the worker (owner) writes them.
- ``processed_events``: (consumer, event id) written in the handler's transaction, which runs
  as the application role bound to the event's tenant.
- ``event_audit_log``: the audit consumer's append-only trail, tenant-scoped by row-level
  security; the application role may insert and read, never update or delete.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mosaic.migrations.rls import app_role, disable_tenant_isolation, enable_tenant_isolation

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_CHANNEL = "mosaic_outbox"


def upgrade() -> None:
    role = app_role()
    _create_bus_tables()
    _create_dead_letters()
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    _create_audit_log()

    op.execute(f"GRANT SELECT, INSERT ON processed_events TO {role}")
    op.execute(f"GRANT SELECT, DELETE ON event_dead_letters TO {role}")
    op.execute(f"GRANT SELECT, INSERT ON event_audit_log TO {role}")
    enable_tenant_isolation("event_audit_log")

    # Statement-level: one wake-up per inserting statement; NOTIFY is delivered at commit and
    # coalesced per transaction, so a burst of writes costs the relay one round.
    op.execute(
        f"""
        CREATE FUNCTION mosaic_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION mosaic_notify_outbox()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
    op.execute("DROP FUNCTION IF EXISTS mosaic_notify_outbox()")
    disable_tenant_isolation("event_audit_log")
    op.drop_index(op.f("ix_event_audit_log_tenant_id_position"), table_name="event_audit_log")
    op.drop_table("event_audit_log")
    op.drop_table("processed_events")
    op.drop_index(op.f("ix_event_dead_letters_consumer_id"), table_name="event_dead_letters")
    op.drop_table("event_dead_letters")
    op.drop_index(
        op.f("ix_event_deliveries_consumer_available_at_id"), table_name="event_deliveries"
    )
    op.drop_table("event_deliveries")
    op.drop_table("event_subscriptions")


def _create_bus_tables() -> None:
    op.create_table(
        "event_subscriptions",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_types", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_event_subscriptions")),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "enqueued_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
    )
    op.create_index(
        op.f("ix_event_deliveries_consumer_available_at_id"),
        "event_deliveries",
        ["consumer", "available_at", "id"],
        unique=False,
    )


def _create_dead_letters() -> None:
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dead_letters")),
    )
    op.create_index(
        op.f("ix_event_dead_letters_consumer_id"),
        "event_dead_letters",
        ["consumer", "id"],
        unique=False,
    )


def _create_audit_log() -> None:
    op.create_table(
        "event_audit_log",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("resource_kind", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_audit_log")),
    )
    op.create_index(
        op.f("ix_event_audit_log_tenant_id_position"),
        "event_audit_log",
        ["tenant_id", "position"],
        unique=False,
    )
