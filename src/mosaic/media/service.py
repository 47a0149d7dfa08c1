"""Media: the rules for starting an upload, registering it, finding and deleting media files.

Blob bytes move between the client and the store directly (presigned URLs); this module hands
out the URLs, checks what arrived, and keeps the rows. It never commits: the request does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import Action, MediaResource, ResourceKind, Subject
from mosaic.core.ids import new_id
from mosaic.core.provenance import Provenance
from mosaic.core.settings import MediaSettings
from mosaic.events import record
from mosaic.legacies import service as legacies
from mosaic.media import repository, upload_rules
from mosaic.media.errors import (
    ContentTypeMismatch,
    LegacyNotFound,
    MediaAlreadyRegistered,
    MediaNotFound,
    StorageQuotaExceeded,
    UploadMissing,
    UploadSizeMismatch,
)
from mosaic.media.events import MediaDeleted, MediaUploaded, MediaUploadStarted
from mosaic.media.schemas import MediaPresign
from mosaic.media.storage import BlobStore, PresignedUpload
from mosaic.models import Media, MediaState


@dataclass(frozen=True)
class UploadStarted:
    media: Media
    upload: PresignedUpload
    expires_at: datetime


def resource_of(media: Media) -> MediaResource:
    return MediaResource(media.tenant_id, media.legacy_id, media.owner_id, media.id)


def original_key(tenant_id: UUID, media_id: UUID) -> str:
    return f"{tenant_id}/{media_id}/original"


def thumbnail_key(tenant_id: UUID, media_id: UUID) -> str:
    return f"{tenant_id}/{media_id}/thumbnail.webp"


def blob_keys(media: Media) -> list[str]:
    """Every blob of a media file: the original and its derivatives."""
    return [media.storage_key, *([media.thumbnail_key] if media.thumbnail_key else [])]


async def start_upload(
    session: AsyncSession,
    *,
    subject: Subject,
    store: BlobStore,
    settings: MediaSettings,
    data: MediaPresign,
    provenance: Provenance,
) -> UploadStarted:
    """A pending media row and the URL to upload its bytes to, within the user's quota."""
    await authz.authorize_kind(subject, Action.CREATE, ResourceKind.MEDIA)
    upload_rules.check_declared(
        filename=data.filename, content_type=data.content_type, size_bytes=data.size_bytes
    )
    if await legacies.find(session, data.legacy_id) is None:
        raise LegacyNotFound()
    resource = MediaResource(subject.tenant_id, data.legacy_id, subject.user_id)
    await authz.authorize(session, subject, Action.CREATE, resource)
    assert subject.user_id is not None  # the rule's OWN condition holds only for a user
    await _check_quota(
        session, subject.user_id, data.size_bytes, settings.media_quota_bytes_per_user
    )
    media_id = new_id()
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.media_upload_url_ttl_seconds)
    key = original_key(subject.tenant_id, media_id)
    media = Media(
        id=media_id,
        tenant_id=subject.tenant_id,
        owner_id=subject.user_id,
        legacy_id=data.legacy_id,
        storage_backend=store.backend,
        storage_bucket=store.bucket,
        storage_key=key,
        filename=data.filename,
        content_type=data.content_type,
        size_bytes=data.size_bytes,
        state=MediaState.PENDING,
        upload_expires_at=expires_at,
        **provenance.columns(),
    )
    session.add(media)
    await session.flush()
    await session.refresh(media)
    upload = await store.presign_put(
        key,
        content_type=data.content_type,
        size_bytes=data.size_bytes,
        expires_in=settings.media_upload_url_ttl_seconds,
    )
    await record(
        session,
        MediaUploadStarted(
            tenant_id=media.tenant_id,
            resource_id=media.id,
            legacy_id=media.legacy_id,
            owner_id=media.owner_id,
            content_type=media.content_type,
            size_bytes=media.size_bytes,
        ),
        actor_id=_actor(provenance),
    )
    return UploadStarted(media=media, upload=upload, expires_at=expires_at)


async def _check_quota(session: AsyncSession, owner_id: UUID, size_bytes: int, quota: int) -> None:
    await repository.lock_quota(session, owner_id)
    used = await repository.bytes_used(session, owner_id)
    if used + size_bytes > quota:
        raise StorageQuotaExceeded(
            details={"quota_bytes": quota, "used_bytes": used, "requested_bytes": size_bytes}
        )


async def register_upload(
    session: AsyncSession,
    *,
    subject: Subject,
    store: BlobStore,
    media_id: UUID,
    provenance: Provenance,
) -> Media:
    """Check the uploaded bytes (size, magic bytes) and make the media ready.

    Bytes that fail a check are deleted with the pending row, and ``UploadRejected`` is
    raised *after* the deletion was written: the caller answers it and still commits.
    """
    media = await _visible(session, subject, media_id, Action.CREATE, for_update=True)
    if media.state is MediaState.READY:
        raise MediaAlreadyRegistered()
    await authz.authorize(session, subject, Action.CREATE, resource_of(media))
    found = await store.stat(media.storage_key)
    if found is None:
        raise UploadMissing()
    if found.size_bytes != media.size_bytes:
        await _reject(session, store, media)
        raise UploadSizeMismatch(
            details={"declared_bytes": media.size_bytes, "uploaded_bytes": found.size_bytes}
        )
    digest, head, size = await _digest(store, media.storage_key)
    if size != media.size_bytes or not upload_rules.content_matches(head, media.content_type):
        await _reject(session, store, media)
        raise ContentTypeMismatch(details={"declared": media.content_type})
    media.state = MediaState.READY
    media.sha256 = digest
    media.upload_expires_at = None
    for column, value in provenance.columns().items():
        setattr(media, column, value)
    await session.flush()
    await session.refresh(media)
    await record(
        session,
        MediaUploaded(
            tenant_id=media.tenant_id,
            resource_id=media.id,
            legacy_id=media.legacy_id,
            owner_id=media.owner_id,
            content_type=media.content_type,
            size_bytes=media.size_bytes,
            sha256=digest,
        ),
        actor_id=_actor(provenance),
    )
    return media


async def _digest(store: BlobStore, key: str) -> tuple[str, bytes, int]:
    """The blob's SHA-256, its first bytes (for magic-byte detection) and its length, read
    in chunks: a video does not fit in memory."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    async for chunk in store.stream(key):
        digest.update(chunk)
        size += len(chunk)
        if len(head) < upload_rules.SNIFF_BYTES:
            head += chunk[: upload_rules.SNIFF_BYTES - len(head)]
    return digest.hexdigest(), head, size


async def _reject(session: AsyncSession, store: BlobStore, media: Media) -> None:
    await store.delete(media.storage_key)
    await session.delete(media)
    await session.flush()


async def list_media(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID | None,
    after: UUID | None,
    limit: int,
) -> Sequence[Media]:
    """The media ``subject`` may see, of one legacy or of all, in id order."""
    visible = await authz.read_filter(subject, repository.MEDIA_ROWS)
    if legacy_id is not None and await legacies.find(session, legacy_id) is None:
        raise LegacyNotFound()
    return await repository.list_visible(
        session,
        visible=visible & repository.shown_to(subject.user_id),
        legacy_id=legacy_id,
        after=after,
        limit=limit,
    )


async def get_media(session: AsyncSession, *, subject: Subject, media_id: UUID) -> Media:
    """A media file ``subject`` may read (404 when there is none they may see)."""
    return await _visible(session, subject, media_id, Action.READ)


async def delete_media(
    session: AsyncSession, *, subject: Subject, media_id: UUID, provenance: Provenance
) -> list[str]:
    """Delete a media file's row; returns its blobs' keys, to delete once this commits (a
    rolled-back delete must not have lost the bytes)."""
    media = await _visible(session, subject, media_id, Action.DELETE, for_update=True)
    await authz.authorize(session, subject, Action.DELETE, resource_of(media))
    keys = blob_keys(media)
    await session.delete(media)
    await session.flush()
    await record(
        session,
        MediaDeleted(
            tenant_id=media.tenant_id,
            resource_id=media.id,
            legacy_id=media.legacy_id,
            owner_id=media.owner_id,
        ),
        actor_id=_actor(provenance),
    )
    return keys


async def _visible(
    session: AsyncSession,
    subject: Subject,
    media_id: UUID,
    action: Action,
    *,
    for_update: bool = False,
) -> Media:
    """The media file if ``subject`` may see it; otherwise 404, as for one that does not
    exist (another tenant's, another legacy's, someone else's pending upload)."""
    await authz.authorize_kind(subject, action, ResourceKind.MEDIA)
    media = await repository.get(session, media_id, for_update=for_update)
    if media is None:
        raise MediaNotFound()
    shown = media.state is MediaState.READY or media.owner_id == subject.user_id
    if not shown or not await authz.can(session, subject, Action.READ, resource_of(media)):
        raise MediaNotFound()
    return media


def _actor(provenance: Provenance) -> str | None:
    return str(provenance.actor_id) if provenance.actor_id else None
