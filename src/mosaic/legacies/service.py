"""Legacies: the rules for creating, finding, changing and deleting them.

Other domain modules reach legacies only through the functions here (``find`` above all).
Every decision goes through the policy; every write stores its provenance and records its
event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz, events
from mosaic.authz import Action, LegacyResource, ResourceKind, Subject
from mosaic.core.ids import new_id
from mosaic.core.provenance import Provenance
from mosaic.legacies import repository, slugs
from mosaic.legacies.errors import DatesOutOfOrder, LegacyNotFound
from mosaic.legacies.events import LegacyCreated, LegacyDeleted, LegacyUpdated, MemberJoined
from mosaic.legacies.schemas import LegacyCreate, check_dates
from mosaic.models import Legacy, LegacyMember, MembershipState, ScopeRole

# How often a create retries when another request took the same slug in between.
_SLUG_ATTEMPTS = 5

EDITABLE = ("name", "birth_date", "death_date", "biography")


def actor_of(subject: Subject) -> str:
    """The outbox's ``actor_id``: the acting user, else the credential (a service key)."""
    return str(subject.user_id) if subject.user_id is not None else subject.principal.key


async def find(session: AsyncSession, legacy_id: UUID) -> Legacy | None:
    """The legacy ``legacy_id`` in the session's tenant, unless it does not exist or was
    deleted (row-level security hides other tenants' legacies)."""
    return await repository.get_legacy(session, legacy_id)


async def find_by_slug(session: AsyncSession, slug: str) -> Legacy | None:
    """The live legacy with this slug in the session's tenant, if any."""
    return await repository.get_legacy_by_slug(session, slug)


async def find_by_reference(session: AsyncSession, reference: str) -> Legacy | None:
    """The live legacy an id or a slug names (slugs never read as ids: see ``slugs``)."""
    try:
        legacy_id = UUID(reference)
    except ValueError:
        return await find_by_slug(session, reference)
    return await find(session, legacy_id)


async def get(
    session: AsyncSession,
    *,
    subject: Subject,
    reference: UUID | str,
    action: Action = Action.READ,
    for_update: bool = False,
) -> Legacy:
    """The legacy ``reference`` names that ``subject`` may ``action`` (404 when there is none:
    never existed, deleted, or another tenant's)."""
    await authz.authorize_kind(subject, action, ResourceKind.LEGACY)
    if isinstance(reference, UUID):
        legacy = await repository.get_legacy(session, reference, for_update=for_update)
    else:
        legacy = await find_by_reference(session, reference)
    if legacy is None:
        raise LegacyNotFound()
    await authz.authorize(session, subject, action, LegacyResource(legacy.tenant_id, legacy.id))
    return legacy


async def create(
    session: AsyncSession, *, subject: Subject, data: LegacyCreate, provenance: Provenance
) -> Legacy:
    """Create a legacy with a fresh slug; its creator becomes its owner."""
    await authz.authorize(session, subject, Action.CREATE, LegacyResource(subject.tenant_id))
    legacy_id = new_id()
    base = slugs.base_slug(data.name)
    for _ in range(_SLUG_ATTEMPTS):
        slug = slugs.next_free(base, await repository.slugs_like(session, base))
        # ON CONFLICT DO NOTHING: a concurrent create that took the slug makes this a no-op
        # (no aborted transaction), and the loop picks the next free one.
        inserted = await session.execute(
            insert(Legacy)
            .values(
                id=legacy_id,
                tenant_id=subject.tenant_id,
                slug=slug,
                created_by=subject.user_id,
                version=1,
                **data.model_dump(),
                **provenance.columns(),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "slug"])
            .returning(Legacy.id)
        )
        if inserted.scalar_one_or_none() is not None:
            break
    else:
        raise RuntimeError("no free slug after several attempts")  # pragma: no cover
    legacy = await session.get(Legacy, legacy_id)
    assert legacy is not None
    await events.record(
        session,
        LegacyCreated(
            tenant_id=legacy.tenant_id, resource_id=legacy.id, name=legacy.name, slug=legacy.slug
        ),
        actor_id=actor_of(subject),
    )
    if subject.user_id is not None:
        session.add(
            LegacyMember(
                tenant_id=legacy.tenant_id,
                legacy_id=legacy.id,
                user_id=subject.user_id,
                role=ScopeRole.OWNER,
                state=MembershipState.ACTIVE,
                joined_at=datetime.now(UTC),
                **provenance.columns(),
            )
        )
        await session.flush()
        await events.record(
            session,
            MemberJoined(
                tenant_id=legacy.tenant_id,
                resource_id=legacy.id,
                user_id=subject.user_id,
                role=ScopeRole.OWNER,
                via="created",
            ),
            actor_id=actor_of(subject),
        )
        subject.memo.clear()  # the creator holds a new role from here on
    return legacy


async def list_mine(
    session: AsyncSession, *, subject: Subject, after: UUID | None, limit: int
) -> Sequence[Legacy]:
    """The legacies where the subject is an active member (none for a service key)."""
    visible = await authz.read_filter(subject, repository.LEGACY_ROWS)
    if subject.user_id is None:
        return ()
    return await repository.list_member_legacies(
        session, user_id=subject.user_id, visible=visible, after=after, limit=limit
    )


async def search(
    session: AsyncSession, *, subject: Subject, text: str, after: UUID | None, limit: int
) -> Sequence[Row[Legacy, float]]:
    """Legacies the subject may see whose name resembles ``text``, best match first."""
    visible = await authz.read_filter(subject, repository.LEGACY_ROWS)
    return await repository.search_legacies(
        session, text=text, visible=visible, after=after, limit=limit
    )


async def update(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    changes: dict[str, Any],
    provenance: Provenance,
    precondition: Callable[[Legacy], None] | None = None,
) -> Legacy:
    """Change a legacy's editable fields (never its slug); ``precondition`` sees the locked
    row first (``If-Match``)."""
    legacy = await get(
        session, subject=subject, reference=legacy_id, action=Action.UPDATE, for_update=True
    )
    if precondition is not None:
        precondition(legacy)
    changed = [
        field for field in EDITABLE if field in changes and getattr(legacy, field) != changes[field]
    ]
    merged = {field: changes.get(field, getattr(legacy, field)) for field in EDITABLE}
    try:
        check_dates(merged["birth_date"], merged["death_date"])
    except ValueError as exc:
        raise DatesOutOfOrder(details=[{"loc": ["body", "death_date"], "msg": str(exc)}]) from None
    if not changed:
        return legacy
    for field in changed:
        setattr(legacy, field, changes[field])
    for column, value in provenance.columns().items():
        setattr(legacy, column, value)
    legacy.version += 1
    await session.flush()
    await session.refresh(legacy)
    await events.record(
        session,
        LegacyUpdated(
            tenant_id=legacy.tenant_id,
            resource_id=legacy.id,
            changed=changed,
            legacy_version=legacy.version,
        ),
        actor_id=actor_of(subject),
    )
    return legacy


async def delete(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, provenance: Provenance
) -> None:
    """Soft-delete a legacy: it becomes a tombstone that every read answers 404 for."""
    legacy = await get(
        session, subject=subject, reference=legacy_id, action=Action.DELETE, for_update=True
    )
    legacy.deleted_at = datetime.now(UTC)
    for column, value in provenance.columns().items():
        setattr(legacy, column, value)
    await session.flush()
    await events.record(
        session,
        LegacyDeleted(tenant_id=legacy.tenant_id, resource_id=legacy.id, slug=legacy.slug),
        actor_id=actor_of(subject),
    )
