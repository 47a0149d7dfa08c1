"""Consent of living people named in a story (seed 000 §11): who was asked, what they said.

Readable by the story's author and the legacy's editors; recorded by the author and the
legacy's owners. The story must be visible to the caller first, so another legacy's story
answers 404 like any story one cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import Action, ConsentResource, Subject
from mosaic.core.ids import new_id
from mosaic.core.provenance import Provenance
from mosaic.events import record
from mosaic.models import ConsentRecord, ConsentStatus, Story
from mosaic.stories import repository
from mosaic.stories.errors import ConsentNotFound
from mosaic.stories.events import ConsentRecorded
from mosaic.stories.schemas import ConsentCreate, ConsentUpdate
from mosaic.stories.service import visible_story


def _resource(story: Story) -> ConsentResource:
    return ConsentResource(
        tenant_id=story.tenant_id,
        legacy_id=story.legacy_id,
        story_author_id=story.author_id,
        story_id=story.id,
    )


def _decided_at(status: ConsentStatus) -> datetime | None:
    return None if status is ConsentStatus.REQUESTED else datetime.now(UTC)


async def _story_for(
    session: AsyncSession, *, subject: Subject, story_id: UUID, action: Action
) -> Story:
    story = await visible_story(session, subject=subject, story_id=story_id)
    await authz.authorize(session, subject, action, _resource(story))
    return story


async def _recorded(session: AsyncSession, subject: Subject, consent: ConsentRecord) -> None:
    # The event names the status only: a living person's name stays out of the event stream.
    await record(
        session,
        ConsentRecorded(
            tenant_id=consent.tenant_id,
            resource_id=consent.id,
            story_id=consent.story_id,
            status=consent.status.value,
        ),
        actor_id=str(subject.user_id) if subject.user_id else subject.principal.key,
    )


async def record_consent(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    data: ConsentCreate,
    provenance: Provenance,
) -> ConsentRecord:
    story = await _story_for(session, subject=subject, story_id=story_id, action=Action.CREATE)
    consent = ConsentRecord(
        id=new_id(),
        tenant_id=story.tenant_id,
        story_id=story.id,
        person_name=data.person_name,
        person_email=data.contact,
        status=data.status,
        note=data.note,
        decided_at=_decided_at(data.status),
        recorded_by=subject.user_id,
        **provenance.columns(),
    )
    session.add(consent)
    await session.flush()
    await session.refresh(consent)
    await _recorded(session, subject, consent)
    return consent


async def list_consents(
    session: AsyncSession, *, subject: Subject, story_id: UUID, after: UUID | None, limit: int
) -> Sequence[ConsentRecord]:
    story = await _story_for(session, subject=subject, story_id=story_id, action=Action.LIST)
    return await repository.list_consents(session, story_id=story.id, after=after, limit=limit)


async def update_consent(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    consent_id: UUID,
    data: ConsentUpdate,
    provenance: Provenance,
) -> ConsentRecord:
    story = await _story_for(session, subject=subject, story_id=story_id, action=Action.UPDATE)
    consent = await repository.get_consent(
        session, story_id=story.id, consent_id=consent_id, for_update=True
    )
    if consent is None:
        raise ConsentNotFound()
    changes = data.model_dump(exclude_unset=True)
    if "status" in changes and data.status is not None and data.status is not consent.status:
        consent.status = data.status
        consent.decided_at = _decided_at(data.status)
    if "contact" in changes:
        consent.person_email = data.contact
    if "note" in changes:
        consent.note = data.note
    consent.recorded_by = subject.user_id
    for column, value in provenance.columns().items():
        setattr(consent, column, value)
    await session.flush()
    await session.refresh(consent)
    await _recorded(session, subject, consent)
    return consent
