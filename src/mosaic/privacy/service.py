"""Privacy use cases: export, subject access and erasure, each authorized as one
``PERSONAL_DATA`` resource (read for the first two, delete for erasure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import events
from mosaic.authz import Action, PersonalDataResource, Subject, authorize
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import UserNotFound
from mosaic.privacy import export, repository
from mosaic.privacy.contributors import CONTRIBUTORS
from mosaic.privacy.errors import ConfirmationMismatch, SoleOwner, UserAccountRequired
from mosaic.privacy.events import UserErased
from mosaic.privacy.schemas import PersonalDataRead


def _own_user_id(subject: Subject) -> UUID:
    if subject.user_id is None:
        raise UserAccountRequired()
    return subject.user_id


async def export_archive(session: AsyncSession, *, subject: Subject) -> IO[bytes]:
    """The caller's stories and media manifest in the credential's tenant, as a ZIP file."""
    user_id = _own_user_id(subject)
    await authorize(session, subject, Action.READ, PersonalDataResource(subject.tenant_id, user_id))
    user = await repository.find_user(session, user_id, for_update=False)
    return await export.write_archive(
        display_name=user.display_name if user is not None else "",
        stories=repository.own_stories(session, user_id),
        media=repository.own_media(session, user_id),
    )


async def personal_data(session: AsyncSession, *, subject: Subject) -> PersonalDataRead:
    """Everything held about the caller: each package's contributor adds its tables."""
    user_id = _own_user_id(subject)
    await authorize(session, subject, Action.READ, PersonalDataResource(subject.tenant_id, user_id))
    sections: dict[str, list[dict[str, object]]] = {}
    for contributor in CONTRIBUTORS:
        sections.update(await contributor.collect(session, user_id))
    return PersonalDataRead(
        user_id=user_id,
        tenant_id=subject.tenant_id,
        generated_at=datetime.now(UTC),
        sections=sections,
    )


@dataclass(frozen=True)
class ErasedAccount:
    user_id: UUID
    # Storage keys of the deleted media: their blobs are deleted once the rows are committed.
    storage_keys: list[str]


def placeholder_email(user_id: UUID) -> str:
    """What an erased account's email becomes: unique, undeliverable, naming nobody."""
    return f"erased-{user_id}@erased.invalid"


async def erase(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    subject: Subject,
    user_id: UUID,
    confirm: str,
    origin: Origin,
) -> ErasedAccount:
    """Erase ``user_id``'s personal data everywhere (see docs/privacy.md for the rules)."""
    await authorize(
        session, subject, Action.DELETE, PersonalDataResource(subject.tenant_id, user_id)
    )
    user = await repository.find_user(session, user_id, for_update=True)
    if user is None or user.email == placeholder_email(user_id):
        raise UserNotFound()
    if confirm.strip().lower() != user.email.lower():
        raise ConfirmationMismatch()
    sole_owned = await repository.sole_owned_tenants(session, user_id)
    if sole_owned:
        raise SoleOwner(details={"tenants": [str(tenant) for tenant in sole_owned]})
    email = user.email
    audit_subjects = [f"email:{email}", *await repository.identity_subjects(session, user_id)]
    storage_keys = await repository.erase_tenant_data(session, user_id, email)
    await repository.scrub_audit_trail(session, user_id, audit_subjects)
    await repository.delete_credentials(session, user_id)
    await repository.anonymise_user(session, user_id, placeholder_email=placeholder_email(user_id))
    # This process stops accepting the user's tokens at once (others within the cache's TTL).
    components.access_cache.forget(user_id)
    by_self = subject.user_id == user_id
    await record(
        session,
        AuditRecord(
            action=AuditAction.ACCOUNT_ERASED,
            tenant_id=subject.tenant_id,
            actor_user_id=subject.user_id,
            actor=subject.principal.key,
            subject=f"user:{user_id}",
            # An erased user's own address and user agent would be personal data left behind.
            origin=Origin() if by_self else origin,
            details={"blobs_deleted": len(storage_keys)},
        ),
    )
    await events.record(
        session,
        UserErased(
            tenant_id=subject.tenant_id,
            resource_id=user_id,
            by_self=by_self,
            blobs_deleted=len(storage_keys),
        ),
        actor_id=subject.principal.key,
    )
    return ErasedAccount(user_id=user_id, storage_keys=storage_keys)
