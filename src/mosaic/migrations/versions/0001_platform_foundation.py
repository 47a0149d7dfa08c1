"""Platform foundation: tenants, API keys and idempotency records under row-level security.

Also creates the application role (no BYPASSRLS, not the owner of anything), the
``mosaic_current_tenant()`` function every tenant policy uses, and the narrow
security-definer lookup that authenticates an API key before a tenant is known.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from mosaic.migrations.rls import app_role, disable_tenant_isolation, enable_tenant_isolation

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_OWNED_TABLES = ("api_keys", "idempotency_records")


def upgrade() -> None:
    role = app_role()
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """
        CREATE FUNCTION mosaic_current_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('mosaic.tenant_id', true), '')::uuid $$
        """
    )
    _create_app_role(role)

    op.create_table(
        "tenants",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id_id"), "api_keys", ["tenant_id", "id"])
    op.create_table(
        "idempotency_records",
        sa.Column("principal", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_records_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "principal", "key", name=op.f("pk_idempotency_records")
        ),
    )

    # A tenant sees only itself; tenants are created by operators (owner role), not by requests.
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant_self ON tenants USING (id = mosaic_current_tenant())")
    for table in TENANT_OWNED_TABLES:
        enable_tenant_isolation(table)

    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT, UPDATE ON tenants TO {role}")
    for table in TENANT_OWNED_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")

    # Authentication must find a key before it knows the tenant: this function (run with the
    # owner's rights) returns exactly one key's verification data by its public prefix.
    op.execute(
        """
        CREATE FUNCTION mosaic_find_api_key(key_prefix text)
        RETURNS TABLE (
            id uuid, tenant_id uuid, secret_hash varchar, scopes varchar[],
            expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz
        )
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
            SELECT id, tenant_id, secret_hash, scopes, expires_at, revoked_at, last_used_at
            FROM public.api_keys WHERE prefix = key_prefix
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION mosaic_find_api_key(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION mosaic_find_api_key(text) TO {role}")


def downgrade() -> None:
    role = app_role()
    op.execute("DROP FUNCTION mosaic_find_api_key(text)")
    for table in TENANT_OWNED_TABLES:
        disable_tenant_isolation(table)
    op.execute("DROP POLICY tenant_self ON tenants")
    op.drop_table("idempotency_records")
    op.drop_index(op.f("ix_api_keys_tenant_id_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    op.execute("DROP FUNCTION mosaic_current_tenant()")
    # The role is cluster-wide (other databases may use it), so it is left in place.


def _create_app_role(role: str) -> None:
    password = context.config.attributes.get("app_password")
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END $$
        """
    )
    if password:
        # ALTER ROLE takes no bind parameters; a doubled quote is the literal's only escape.
        quoted = password.replace("'", "''")
        op.execute(f"ALTER ROLE {role} PASSWORD '{quoted}'")
