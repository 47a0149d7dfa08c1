"""Accept an invitation without a bound tenant: the invite-only onboarding path.

Registration and login carry an invitation token but no tenant, and the application role can
neither read an unbound tenant's invitations nor write its memberships. The security-definer
function ``mosaic_accept_invitation(hash, member)`` is the one narrow way through: it locks the
invitation (``FOR UPDATE``, so two concurrent accepts serialise and only the first succeeds),
checks it is addressed to ``member``'s email (case-insensitive) and still usable, inserts the
membership or activates a pending one, and marks the invitation accepted, all in one call.

It answers one row ``(outcome, invitation_id, tenant_id, role)``; ``outcome`` is one of
``accepted``, ``already_accepted`` (by this very member: a retry), ``not_found`` (no such token,
or addressed to someone else: the caller learns nothing about it), ``used``, ``revoked``,
``expired`` or ``already_member``. Only ``accepted`` and ``already_accepted`` carry the rest.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from mosaic.migrations.rls import app_role

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "mosaic_accept_invitation(varchar, uuid)"


def upgrade() -> None:
    # The OUT columns are named apart from the tables' columns: in PL/pgSQL they would
    # otherwise shadow them inside the queries.
    op.execute(
        """
        CREATE FUNCTION mosaic_accept_invitation(hash varchar, member uuid)
        RETURNS TABLE (
            outcome varchar, invitation_id uuid, joined_tenant uuid, joined_role varchar
        )
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        DECLARE
            found public.tenant_invitations%ROWTYPE;
            member_email varchar;
            current_state varchar;
        BEGIN
            SELECT * INTO found FROM public.tenant_invitations i
            WHERE i.token_hash = hash FOR UPDATE;
            SELECT u.email INTO member_email FROM public.users u WHERE u.id = member;
            IF found.id IS NULL OR member_email IS NULL
                    OR lower(found.email) <> lower(member_email) THEN
                RETURN QUERY SELECT 'not_found'::varchar, NULL::uuid, NULL::uuid, NULL::varchar;
                RETURN;
            END IF;
            IF found.accepted_at IS NOT NULL THEN
                IF found.accepted_by = member THEN
                    RETURN QUERY SELECT 'already_accepted'::varchar, found.id, found.tenant_id,
                        found.role;
                ELSE
                    RETURN QUERY SELECT 'used'::varchar, found.id, NULL::uuid, NULL::varchar;
                END IF;
                RETURN;
            END IF;
            IF found.revoked_at IS NOT NULL THEN
                RETURN QUERY SELECT 'revoked'::varchar, found.id, NULL::uuid, NULL::varchar;
                RETURN;
            END IF;
            IF found.expires_at <= now() THEN
                RETURN QUERY SELECT 'expired'::varchar, found.id, NULL::uuid, NULL::varchar;
                RETURN;
            END IF;
            SELECT m.state INTO current_state FROM public.tenant_memberships m
            WHERE m.tenant_id = found.tenant_id AND m.user_id = member FOR UPDATE;
            IF current_state IS NULL THEN
                INSERT INTO public.tenant_memberships (tenant_id, user_id, role, state)
                VALUES (found.tenant_id, member, found.role, 'active');
            ELSIF current_state = 'pending' THEN
                -- Asking to join and being invited are the same wish: the invitation approves.
                UPDATE public.tenant_memberships m
                SET state = 'active', role = found.role, updated_at = now()
                WHERE m.tenant_id = found.tenant_id AND m.user_id = member;
            ELSE
                RETURN QUERY SELECT 'already_member'::varchar, found.id, NULL::uuid,
                    NULL::varchar;
                RETURN;
            END IF;
            UPDATE public.tenant_invitations i
            SET accepted_at = now(), accepted_by = member
            WHERE i.id = found.id;
            RETURN QUERY SELECT 'accepted'::varchar, found.id, found.tenant_id, found.role;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {app_role()}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {FUNCTION}")
