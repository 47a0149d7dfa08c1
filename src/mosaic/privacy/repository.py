"""Queries of the privacy module: the export's rows, and the erasure steps at table level."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import ARRAY, String, cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import (
    BrowserSession,
    Legacy,
    Media,
    PasswordResetToken,
    RefreshToken,
    Story,
    User,
    UserIdentity,
    UserStatus,
)

_BATCH = 200


@dataclass(frozen=True)
class ExportedStory:
    story: Story
    legacy_name: str
    legacy_slug: str


@dataclass(frozen=True)
class ExportedMedia:
    media: Media
    legacy_slug: str | None


async def own_stories(session: AsyncSession, user_id: UUID) -> AsyncIterator[ExportedStory]:
    """The user's live stories in the session's tenant, streamed in batches."""
    statement = (
        select(Story, Legacy.name, Legacy.slug)
        .join(Legacy, Legacy.id == Story.legacy_id)
        .where(Story.author_id == user_id, Story.deleted_at.is_(None))
        .order_by(Legacy.slug, Story.created_at, Story.id)
        .execution_options(yield_per=_BATCH)
    )
    async for story, name, slug in await session.stream(statement):
        yield ExportedStory(story=story, legacy_name=name, legacy_slug=slug)


async def own_media(session: AsyncSession, user_id: UUID) -> AsyncIterator[ExportedMedia]:
    """The user's media in the session's tenant, streamed in batches."""
    statement = (
        select(Media, Legacy.slug)
        .outerjoin(Legacy, Legacy.id == Media.legacy_id)
        .where(Media.owner_id == user_id)
        .order_by(Media.created_at, Media.id)
        .execution_options(yield_per=_BATCH)
    )
    async for media, slug in await session.stream(statement):
        yield ExportedMedia(media=media, legacy_slug=slug)


async def find_user(session: AsyncSession, user_id: UUID, *, for_update: bool) -> User | None:
    statement = select(User).where(User.id == user_id)
    if for_update:
        # FOR NO KEY UPDATE: two erasures serialise, yet the audit record of a refused one,
        # written in a transaction of its own, may still reference the row meanwhile.
        statement = statement.with_for_update(key_share=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def identity_subjects(session: AsyncSession, user_id: UUID) -> list[str]:
    """How failed sign-ins at identity providers name the user in the audit log."""
    rows = await session.execute(
        select(UserIdentity.provider, UserIdentity.subject).where(UserIdentity.user_id == user_id)
    )
    return [f"oidc:{provider}:{subject}" for provider, subject in rows]


async def sole_owned_tenants(session: AsyncSession, user_id: UUID) -> list[UUID]:
    """Tenants, in any tenant, the user is the last active owner of while others belong to
    them (a security-definer function: the request sees one tenant)."""
    rows = await session.scalars(select(func.mosaic_sole_owned_tenants(user_id)))
    return list(rows.all())


async def erase_tenant_data(session: AsyncSession, user_id: UUID, email: str) -> list[str]:
    """Apply the erasure rules to every tenant-owned table in every tenant (a security-definer
    function: the request is bound to one tenant); answers the deleted media's storage keys."""
    erased = func.mosaic_erase_tenant_data(user_id, email).table_valued(
        "erased_tenant", "erased_storage_key"
    )
    rows = await session.execute(select(erased.c.erased_storage_key))
    return [key for (key,) in rows]


async def scrub_audit_trail(session: AsyncSession, user_id: UUID, subjects: Sequence[str]) -> int:
    """Clear addresses and user agents of audit events by or about the user, and the subjects
    and details naming them (the audit log is append-only for the application)."""
    scrubbed = await session.scalar(
        select(
            func.mosaic_scrub_audit_trail(
                user_id, cast([subject.lower() for subject in subjects], ARRAY(String))
            )
        )
    )
    return int(scrubbed or 0)


async def delete_credentials(session: AsyncSession, user_id: UUID) -> None:
    """Sessions, refresh tokens, password resets and linked identities: nothing to sign in
    with is left, and the rows with addresses and user agents go with them."""
    for model in (BrowserSession, RefreshToken, PasswordResetToken, UserIdentity):
        await session.execute(delete(model).where(model.user_id == user_id))


async def anonymise_user(session: AsyncSession, user_id: UUID, *, placeholder_email: str) -> None:
    """Keep the row (foreign keys, audit events point at it) but nothing personal in it."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            email=placeholder_email,
            email_verified=False,
            first_name="",
            last_name="",
            display_name="Erased user",
            avatar_url=None,
            password_hash=None,
            last_login_at=None,
            status=UserStatus.DISABLED,
        )
    )
