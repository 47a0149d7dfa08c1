"""Fixtures for the privacy tests: a small world of two tenants, legacies, stories by the
user and by others, their revisions, flags, consents, media and audit events, all written
with the owner's connection (the stories and media APIs are other packages')."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.ids import new_id
from mosaic.models import (
    AuditEvent,
    ConsentRecord,
    FlagReason,
    Legacy,
    LegacyMember,
    Media,
    MediaState,
    ScopeRole,
    Story,
    StoryFlag,
    StoryRevision,
    StoryVisibility,
    TenantMembership,
    User,
)
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey

# Accounts with passwords and signed-in users, for the tests of tokens after erasure.
from tests.identity.conftest import make_account, sign_in  # noqa: F401

Sessions = async_sessionmaker[AsyncSession]


class RecordingBlobStore:
    """The blob port, recording what erasure deleted."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete(self, key: str) -> None:
        self.deleted.append(key)


@pytest.fixture
def blob_store(app: FastAPI) -> Iterator[RecordingBlobStore]:
    store = RecordingBlobStore()
    previous = getattr(app.state, "blob_store", None)
    app.state.blob_store = store
    yield store
    app.state.blob_store = previous


@pytest.fixture
def no_blob_store(app: FastAPI) -> Iterator[None]:
    """An installation whose media storage is not wired (whatever the app was given)."""
    previous = getattr(app.state, "blob_store", None)
    app.state.blob_store = None
    yield
    app.state.blob_store = previous


@dataclass
class Person:
    """A member with distinctive personal data, to search for after erasure."""

    member: Member
    first_name: str
    last_name: str
    display_name: str
    ip: str
    user_agent: str

    @property
    def id(self) -> UUID:
        return self.member.user_id

    @property
    def email(self) -> str:
        return self.member.email

    @property
    def headers(self) -> dict[str, str]:
        return {**self.member.headers, "User-Agent": self.user_agent}

    def needles(self) -> list[str]:
        """Strings that identify the person and must be gone after erasure."""
        return [
            self.email,
            self.first_name,
            self.last_name,
            self.display_name,
            self.ip,
            self.user_agent,
        ]


@dataclass
class World:
    tenant: TenantWithKey
    other_tenant: TenantWithKey
    alice: Person
    bob: Person
    alice_legacy: UUID
    bob_legacy: UUID
    alice_public_story: UUID
    alice_personal_story: UUID
    alice_other_tenant_story: UUID
    bob_story: UUID
    alice_media_keys: list[str] = field(default_factory=list)
    bob_media_key: str = ""


async def _person(
    make_member: MemberFactory, owner_sessions: Sessions, tenant: TenantWithKey, name: str
) -> Person:
    tag = uuid4().hex[:8]
    member = await make_member(tenant, ScopeRole.CONTRIBUTOR, email=f"{name}-{tag}@example.test")
    person = Person(
        member=member,
        first_name=f"{name.title()}first{tag}",
        last_name=f"{name.title()}last{tag}",
        display_name=f"{name.title()} Display {tag}",
        ip=f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.{int(tag[4:6], 16)}",
        user_agent=f"{name}-agent/{tag}",
    )
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.id == member.user_id)
            .values(
                first_name=person.first_name,
                last_name=person.last_name,
                display_name=person.display_name,
            )
        )
    return person


def _provenance(person: Person) -> dict[str, object]:
    return {"actor_id": person.id, "source_ip": person.ip, "user_agent": person.user_agent}


def _legacy(tenant_id: UUID, creator: Person, name: str) -> Legacy:
    return Legacy(
        id=new_id(),
        tenant_id=tenant_id,
        name=name,
        slug=f"{name.lower().replace(' ', '-')}-{uuid4().hex[:6]}",
        created_by=creator.id,
        **_provenance(creator),
    )


def _story(
    tenant_id: UUID,
    legacy_id: UUID,
    author: Person,
    title: str,
    visibility: StoryVisibility,
    tags: list[str],
) -> tuple[Story, StoryRevision]:
    story = Story(
        id=new_id(),
        tenant_id=tenant_id,
        legacy_id=legacy_id,
        author_id=author.id,
        title=title,
        content=f"# {title}\n\nWhat we remember.",
        visibility=visibility,
        tags=tags,
        version=1,
        **_provenance(author),
    )
    revision = StoryRevision(
        id=new_id(),
        tenant_id=tenant_id,
        story_id=story.id,
        version=1,
        title=title,
        content=story.content,
        visibility=visibility,
        tags=tags,
        **_provenance(author),
    )
    return story, revision


def _media(tenant_id: UUID, legacy_id: UUID | None, owner: Person, filename: str) -> Media:
    return Media(
        id=new_id(),
        tenant_id=tenant_id,
        owner_id=owner.id,
        legacy_id=legacy_id,
        storage_backend="memory",
        storage_bucket="test",
        storage_key=f"{tenant_id}/{uuid4().hex}",
        filename=filename,
        content_type="image/jpeg",
        size_bytes=1234,
        sha256="ab" * 32,
        state=MediaState.READY,
        **_provenance(owner),
    )


@pytest.fixture
async def world(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> World:
    tenant, other_tenant = await make_tenant(), await make_tenant()
    alice = await _person(make_member, owner_sessions, tenant, "alice")
    bob = await _person(make_member, owner_sessions, tenant, "bob")
    async with owner_sessions() as session, session.begin():
        # Alice belongs to a second tenant too, and wrote there.
        session.add(
            TenantMembership(
                tenant_id=other_tenant.id, user_id=alice.id, role=ScopeRole.CONTRIBUTOR
            )
        )
        alice_legacy = _legacy(tenant.id, alice, "Grandma Rose")
        bob_legacy = _legacy(tenant.id, bob, "Uncle Joe")
        far_legacy = _legacy(other_tenant.id, alice, "Far Away")
        session.add_all([alice_legacy, bob_legacy, far_legacy])
        await session.flush()
        session.add_all(
            [
                LegacyMember(
                    tenant_id=tenant.id,
                    legacy_id=alice_legacy.id,
                    user_id=alice.id,
                    role=ScopeRole.OWNER,
                ),
                LegacyMember(
                    tenant_id=tenant.id,
                    legacy_id=bob_legacy.id,
                    user_id=alice.id,
                    role=ScopeRole.CONTRIBUTOR,
                    approved_by=bob.id,
                ),
                LegacyMember(
                    tenant_id=tenant.id,
                    legacy_id=bob_legacy.id,
                    user_id=bob.id,
                    role=ScopeRole.OWNER,
                    approved_by=alice.id,
                    **_provenance(alice),  # she approved it
                ),
            ]
        )
        public, public_v1 = _story(
            tenant.id, alice_legacy.id, alice, "Summer at the lake", StoryVisibility.PUBLIC,
            ["summer", "lake"],
        )  # fmt: skip
        personal, personal_v1 = _story(
            tenant.id, bob_legacy.id, alice, "A note for me", StoryVisibility.PERSONAL, []
        )
        far, far_v1 = _story(
            other_tenant.id, far_legacy.id, alice, "Elsewhere", StoryVisibility.PRIVATE, []
        )
        bobs, bobs_v1 = _story(
            tenant.id, bob_legacy.id, bob, "Joe's workshop", StoryVisibility.PRIVATE, ["tools"]
        )
        session.add_all([public, personal, far, bobs])
        await session.flush()
        # Alice edited Bob's story: the second revision and the story's provenance are hers.
        bobs_v2 = StoryRevision(
            id=new_id(),
            tenant_id=tenant.id,
            story_id=bobs.id,
            version=2,
            title=bobs.title,
            content=bobs.content + "\n\nAnd the smell of sawdust.",
            visibility=bobs.visibility,
            tags=bobs.tags,
            **_provenance(alice),
        )
        bobs.version = 2
        bobs.content = bobs_v2.content
        bobs.actor_id, bobs.source_ip, bobs.user_agent = alice.id, alice.ip, alice.user_agent
        session.add_all([public_v1, personal_v1, far_v1, bobs_v1, bobs_v2])
        session.add(
            StoryFlag(
                tenant_id=tenant.id,
                story_id=bobs.id,
                flagged_by=alice.id,
                reason=FlagReason.INACCURATE,
                note=f"Signed, {alice.display_name}",
            )
        )
        session.add(
            ConsentRecord(
                tenant_id=tenant.id,
                story_id=bobs.id,
                person_name="Joe",
                status="granted",
                recorded_by=alice.id,
                **_provenance(alice),
            )
        )
        alice_media = [
            _media(tenant.id, alice_legacy.id, alice, "rose.jpg"),
            _media(tenant.id, None, alice, "me.jpg"),
            _media(other_tenant.id, far_legacy.id, alice, "far.jpg"),
        ]
        alice_media[0].thumbnail_key = f"{tenant.id}/thumbnails/{uuid4().hex}.webp"
        bob_media = _media(tenant.id, bob_legacy.id, bob, "joe.jpg")
        session.add_all([*alice_media, bob_media])
        session.add(
            AuditEvent(
                id=new_id(),
                tenant_id=tenant.id,
                action="login_failed",
                outcome="failure",
                subject=f"email:{alice.email}",
                ip_address=alice.ip,
                user_agent=alice.user_agent,
            )
        )
        session.add(
            AuditEvent(
                id=new_id(),
                tenant_id=tenant.id,
                action="invitation_created",
                outcome="success",
                actor_user_id=bob.id,
                subject="invitation:x",
                details={"email": alice.email, "role": "viewer"},
                ip_address=bob.ip,
                user_agent=bob.user_agent,
            )
        )
    return World(
        tenant=tenant,
        other_tenant=other_tenant,
        alice=alice,
        bob=bob,
        alice_legacy=alice_legacy.id,
        bob_legacy=bob_legacy.id,
        alice_public_story=public.id,
        alice_personal_story=personal.id,
        alice_other_tenant_story=far.id,
        bob_story=bobs.id,
        alice_media_keys=[
            *(media.storage_key for media in alice_media),
            *(media.thumbnail_key for media in alice_media if media.thumbnail_key),
        ],
        bob_media_key=bob_media.storage_key,
    )
