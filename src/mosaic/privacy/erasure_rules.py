"""What erasure does to every column that references a user: the one table to read (and to
extend with a new table). ``tests/privacy/test_erasure_rules.py`` fails for a column that
references ``users.id`` without a rule here, and checks the security-definer function of
migration 0012 names every tenant-owned table the rules send to it.

Where a rule runs: ``sql`` in ``mosaic_erase_tenant_data`` (tenant-owned tables, every
tenant), ``audit`` in ``mosaic_scrub_audit_trail``, ``app`` in ``privacy.repository`` (the
global tables the application role may change directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Where = Literal["sql", "audit", "app"]


@dataclass(frozen=True)
class ErasureRule:
    where: Where
    rule: str


_PROVENANCE = "cleared with source_ip and user_agent (provenance of their writes)"

ERASURE_RULES: dict[str, ErasureRule] = {
    "users.id": ErasureRule(
        "app", "kept, anonymised: email replaced, names cleared, password gone, disabled"
    ),
    "tenant_memberships.user_id": ErasureRule("sql", "deleted"),
    "tenant_invitations.invited_by": ErasureRule("sql", "cleared"),
    "tenant_invitations.accepted_by": ErasureRule("sql", "cleared"),
    "api_keys.created_by": ErasureRule(
        "sql", "deleted (a key without creator would pass for an operator's)"
    ),
    "browser_sessions.user_id": ErasureRule("app", "deleted"),
    "refresh_tokens.user_id": ErasureRule("app", "deleted"),
    "password_reset_tokens.user_id": ErasureRule("app", "deleted"),
    "user_identities.user_id": ErasureRule("app", "deleted"),
    "audit_events.actor_user_id": ErasureRule(
        "audit", "kept with the action; IP address, user agent and naming subjects cleared"
    ),
    "legacies.created_by": ErasureRule(
        "sql", "deleted when nobody else uses the legacy; else cleared, the legacy stays"
    ),
    "legacies.actor_id": ErasureRule("sql", _PROVENANCE),
    "legacy_members.user_id": ErasureRule("sql", "deleted"),
    "legacy_members.approved_by": ErasureRule("sql", "cleared"),
    "legacy_members.actor_id": ErasureRule("sql", _PROVENANCE),
    "legacy_invitations.invited_by": ErasureRule("sql", "cleared"),
    "legacy_invitations.accepted_by": ErasureRule("sql", "cleared"),
    "legacy_invitations.actor_id": ErasureRule("sql", _PROVENANCE),
    "stories.author_id": ErasureRule(
        "sql", "their stories deleted, with revisions, flags, consents"
    ),
    "stories.actor_id": ErasureRule("sql", _PROVENANCE),
    "story_revisions.actor_id": ErasureRule("sql", _PROVENANCE + "; others' stories keep the text"),
    "story_flags.flagged_by": ErasureRule("sql", "cleared with the flag's note; the flag stays"),
    "story_flags.resolved_by": ErasureRule("sql", "cleared"),
    "story_flags.actor_id": ErasureRule("sql", _PROVENANCE),
    "consent_records.recorded_by": ErasureRule("sql", "cleared"),
    "consent_records.actor_id": ErasureRule("sql", _PROVENANCE),
    "media.owner_id": ErasureRule("sql", "deleted, their blobs and thumbnails after commit"),
    "media.actor_id": ErasureRule("sql", _PROVENANCE),
}
