"""The default tenant, and the lookups authentication needs before a tenant is bound.

- The zero-config installation has one tenant, ``default``, which self-registered users join.
- ``mosaic_tenant_id(slug)`` finds a tenant's id by slug (registration, operator config).
- ``mosaic_find_api_key`` also returns the user who created the key, so a user's key acts as
  that user, narrowed by its scopes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from mosaic.migrations.rls import app_role

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIND_API_KEY_WITH_OWNER = """
    CREATE FUNCTION mosaic_find_api_key(key_prefix text)
    RETURNS TABLE (
        id uuid, tenant_id uuid, secret_hash varchar, scopes varchar[],
        expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
        created_by uuid
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        SELECT id, tenant_id, secret_hash, scopes, expires_at, revoked_at, last_used_at,
               created_by
        FROM public.api_keys WHERE prefix = key_prefix
    $$
"""

_FIND_API_KEY_WITHOUT_OWNER = """
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


def upgrade() -> None:
    role = app_role()
    # gen_random_uuid() is v4, not v7: harmless for a single, well-known row.
    op.execute(
        "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'default', 'Default') "
        "ON CONFLICT (slug) DO NOTHING"
    )
    op.execute(
        """
        CREATE FUNCTION mosaic_tenant_id(tenant_slug varchar) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT id FROM public.tenants WHERE slug = tenant_slug $$
        """
    )
    _replace_find_api_key(_FIND_API_KEY_WITH_OWNER)
    for function in ("mosaic_tenant_id(varchar)", "mosaic_find_api_key(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def downgrade() -> None:
    role = app_role()
    _replace_find_api_key(_FIND_API_KEY_WITHOUT_OWNER)
    op.execute("REVOKE ALL ON FUNCTION mosaic_find_api_key(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION mosaic_find_api_key(text) TO {role}")
    op.execute("DROP FUNCTION mosaic_tenant_id(varchar)")
    # The default tenant stays: other rows may belong to it by now.


def _replace_find_api_key(definition: str) -> None:
    # The result type changes, which CREATE OR REPLACE cannot do.
    op.execute("DROP FUNCTION mosaic_find_api_key(text)")
    op.execute(definition)
