"""Row-level security helpers for migrations: one policy shape for every tenant-owned table."""

from __future__ import annotations

from alembic import op


def app_role() -> str:
    """The application's database role, as configured for this migration run."""
    from alembic import context

    role: str = context.config.attributes.get("app_role", "mosaic_app")
    return role


def enable_tenant_isolation(table: str) -> None:
    """Rows of ``table`` are visible and writable only inside their tenant's transactions.

    Without a tenant bound (``mosaic.tenant_id`` unset) ``mosaic_current_tenant()`` is NULL,
    so the policy matches no row at all.
    """
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (tenant_id = mosaic_current_tenant()) "
        "WITH CHECK (tenant_id = mosaic_current_tenant())"
    )


def disable_tenant_isolation(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
