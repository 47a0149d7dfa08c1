"""Privacy: erase a user's data in every tenant, and scrub the audit trail about them.

Erasure reaches rows the application role cannot: the user's stories, media and memberships
in tenants other than the one the request is bound to (row-level security), and the audit
log, which is append-only for the application. Three security-definer functions are the
narrow ways through, called only by ``mosaic.privacy.repository``:

``mosaic_erase_tenant_data(member, member_email)`` applies the erasure rules to every
tenant-owned table in every tenant: the user's own stories are deleted (their revisions,
flags and consent records go with them), their media rows are deleted (it answers the
storage keys and thumbnail keys, so the caller can delete the blobs after the rows),
memberships and API keys are deleted (with the stored answers of their idempotent creates),
invitations addressed to their email are deleted, and every other reference (provenance
``actor_id`` with ``source_ip`` and ``user_agent``, revisions of others' stories, flags
raised, consents recorded, legacies created, invitations sent or accepted) is cleared.
Legacies they created that hold nobody else's stories, media or memberships are deleted.

``mosaic_sole_owned_tenants(member)`` answers the tenants the user is the last active owner
of while others belong to them: erasure refuses until someone else owns them, so no
community is left without an owner.

``mosaic_scrub_audit_trail(member, subjects)`` keeps each audit event's action and outcome
but clears the IP address and user agent of events by or about the user, replaces subjects
that name them (``email:…``, ``oidc:…``) and drops an ``email`` detail naming them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

from mosaic.migrations.rls import app_role

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = (
    "mosaic_sole_owned_tenants(uuid)",
    "mosaic_erase_tenant_data(uuid, varchar)",
    "mosaic_scrub_audit_trail(uuid, varchar[])",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION mosaic_sole_owned_tenants(member uuid)
        RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
            SELECT m.tenant_id FROM public.tenant_memberships m
            WHERE m.user_id = member AND m.role = 'owner' AND m.state = 'active'
            AND NOT EXISTS (
                SELECT 1 FROM public.tenant_memberships o
                WHERE o.tenant_id = m.tenant_id AND o.user_id <> member
                AND o.role = 'owner' AND o.state = 'active'
            )
            AND EXISTS (
                SELECT 1 FROM public.tenant_memberships o
                WHERE o.tenant_id = m.tenant_id AND o.user_id <> member
            )
            ORDER BY m.tenant_id
        $$
        """
    )
    # ``subjects`` arrive lower-cased; audit subjects are compared lower-cased too.
    op.execute(
        """
        CREATE FUNCTION mosaic_erase_tenant_data(member uuid, member_email varchar)
        RETURNS TABLE (erased_tenant uuid, erased_storage_key varchar)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        BEGIN
            -- Media first: its rows answer the blobs to delete once the transaction commits.
            -- A file's thumbnail is a blob of its own, answered as a second key.
            RETURN QUERY
                WITH deleted AS (
                    DELETE FROM public.media m WHERE m.owner_id = member
                    RETURNING m.tenant_id, m.storage_key, m.thumbnail_key
                )
                SELECT d.tenant_id, d.storage_key FROM deleted d
                UNION ALL
                SELECT d.tenant_id, d.thumbnail_key FROM deleted d
                WHERE d.thumbnail_key IS NOT NULL;
            -- The user's own stories, with their revisions, flags and consent records.
            DELETE FROM public.stories s WHERE s.author_id = member;
            -- Provenance of the user's writes (ProvenanceMixin) in every table that has it.
            UPDATE public.legacies SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.stories SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.story_revisions SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.consent_records SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.media SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.story_flags SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.legacy_members SET actor_id = NULL, source_ip = NULL, user_agent = NULL
                WHERE actor_id = member;
            UPDATE public.legacy_invitations SET actor_id = NULL, source_ip = NULL,
                user_agent = NULL WHERE actor_id = member;
            UPDATE public.story_flags f SET flagged_by = NULL, note = NULL
                WHERE f.flagged_by = member;
            UPDATE public.story_flags f SET resolved_by = NULL WHERE f.resolved_by = member;
            UPDATE public.consent_records c SET recorded_by = NULL WHERE c.recorded_by = member;
            DELETE FROM public.legacy_members lm WHERE lm.user_id = member;
            -- Legacies they created that nobody else uses go with them; the others stay for
            -- their community, without a creator.
            DELETE FROM public.legacies l
                WHERE l.created_by = member
                AND NOT EXISTS (SELECT 1 FROM public.stories s WHERE s.legacy_id = l.id)
                AND NOT EXISTS (SELECT 1 FROM public.media m WHERE m.legacy_id = l.id)
                AND NOT EXISTS (SELECT 1 FROM public.legacy_members lm WHERE lm.legacy_id = l.id);
            UPDATE public.legacies l SET created_by = NULL WHERE l.created_by = member;
            UPDATE public.legacy_members lm SET approved_by = NULL WHERE lm.approved_by = member;
            DELETE FROM public.legacy_invitations li
                WHERE lower(li.email) = lower(member_email);
            UPDATE public.legacy_invitations li SET invited_by = NULL
                WHERE li.invited_by = member;
            UPDATE public.legacy_invitations li SET accepted_by = NULL
                WHERE li.accepted_by = member;
            DELETE FROM public.tenant_invitations ti
                WHERE lower(ti.email) = lower(member_email);
            UPDATE public.tenant_invitations ti SET invited_by = NULL
                WHERE ti.invited_by = member;
            UPDATE public.tenant_invitations ti SET accepted_by = NULL
                WHERE ti.accepted_by = member;
            -- A user's keys stop working with the account: deleted, not orphaned (a key
            -- without a creator would pass for an operator's).
            -- Stored answers of their creates (sealed, but theirs): by them or by their keys.
            DELETE FROM public.idempotency_records r WHERE r.principal = 'user:' || member;
            DELETE FROM public.idempotency_records r USING public.api_keys k
                WHERE k.created_by = member AND r.tenant_id = k.tenant_id
                AND r.principal = 'api_key:' || k.id;
            DELETE FROM public.api_keys k WHERE k.created_by = member;
            DELETE FROM public.tenant_memberships tm WHERE tm.user_id = member;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION mosaic_scrub_audit_trail(member uuid, subjects varchar[])
        RETURNS integer
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        DECLARE
            scrubbed integer;
        BEGIN
            UPDATE public.audit_events a
            SET ip_address = NULL,
                user_agent = NULL,
                subject = CASE WHEN lower(a.subject) = ANY (subjects)
                    THEN 'erased' ELSE a.subject END,
                details = CASE
                    WHEN 'email:' || lower(a.details ->> 'email') = ANY (subjects)
                    THEN a.details - 'email' ELSE a.details END
            WHERE a.actor_user_id = member
               OR lower(a.subject) = ANY (subjects)
               OR a.subject = 'user:' || member
               OR 'email:' || lower(a.details ->> 'email') = ANY (subjects);
            GET DIAGNOSTICS scrubbed = ROW_COUNT;
            RETURN scrubbed;
        END
        $$
        """
    )
    role = app_role()
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
