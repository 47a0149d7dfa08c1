"""Self-registration's memberships, through two narrow security-definer functions.

A registering user has no tenant yet, so the request cannot bind one, and the application role
can neither see nor write memberships of an unbound tenant (nor create tenants at all). These
functions are the only ways around that, and each works only for a user who belongs to no
tenant yet — they cannot add an existing member to a second tenant:

- ``mosaic_join_registration_tenant(member, slug)``: join the tenant ``slug`` as a contributor
  (``open`` registration); returns the tenant id, or NULL if there is no such tenant.
- ``mosaic_create_own_tenant(member, tenant, slug, name)``: create the tenant ``tenant`` (an
  id the application made, UUIDv7) that ``member`` owns (``own_tenant`` registration).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from mosaic.migrations.rls import app_role

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = (
    "mosaic_join_registration_tenant(uuid, varchar)",
    "mosaic_create_own_tenant(uuid, uuid, varchar, varchar)",
)


def upgrade() -> None:
    role = app_role()
    op.execute(
        """
        CREATE FUNCTION mosaic_join_registration_tenant(member uuid, tenant_slug varchar)
        RETURNS uuid
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        DECLARE
            joined uuid;
        BEGIN
            IF EXISTS (SELECT 1 FROM public.tenant_memberships WHERE user_id = member) THEN
                RAISE EXCEPTION 'user % already belongs to a tenant', member
                    USING ERRCODE = 'check_violation';
            END IF;
            SELECT id INTO joined FROM public.tenants WHERE slug = tenant_slug;
            IF joined IS NULL THEN
                RETURN NULL;
            END IF;
            INSERT INTO public.tenant_memberships (tenant_id, user_id, role, state)
            VALUES (joined, member, 'contributor', 'active');
            RETURN joined;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION mosaic_create_own_tenant(
            member uuid, created uuid, tenant_slug varchar, tenant_name varchar
        )
        RETURNS uuid
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM public.tenant_memberships WHERE user_id = member) THEN
                RAISE EXCEPTION 'user % already belongs to a tenant', member
                    USING ERRCODE = 'check_violation';
            END IF;
            INSERT INTO public.tenants (id, slug, name) VALUES (created, tenant_slug, tenant_name);
            INSERT INTO public.tenant_memberships (tenant_id, user_id, role, state)
            VALUES (created, member, 'owner', 'active');
            RETURN created;
        END
        $$
        """
    )
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
