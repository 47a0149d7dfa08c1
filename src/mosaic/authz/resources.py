"""Resources as small typed descriptors: what kind, which scope chain, which attributes.

A resource's scope chain is its path in the authorization forest, root first: a story sits in
a legacy, which sits in a tenant. Roles granted at any scope on the chain apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar
from uuid import UUID


class ScopeKind(StrEnum):
    """The levels of the forest at which scope roles are granted."""

    TENANT = "tenant"
    LEGACY = "legacy"
    STORY = "story"


class ResourceKind(StrEnum):
    TENANT = "tenant"
    MEMBERSHIP = "membership"
    INVITATION = "invitation"
    API_KEY = "api_key"
    AUDIT_EVENT = "audit_event"
    LEGACY = "legacy"
    LEGACY_MEMBER = "legacy_member"
    LEGACY_INVITATION = "legacy_invitation"
    STORY = "story"
    STORY_FLAG = "story_flag"
    CONSENT = "consent"
    MEDIA = "media"
    PERSONAL_DATA = "personal_data"
    DEAD_LETTER = "dead_letter"


class Visibility(StrEnum):
    """Seed 002's story visibility: anyone in the tenant, the legacy's members, the author."""

    PUBLIC = "public"
    PRIVATE = "private"
    PERSONAL = "personal"


@dataclass(frozen=True)
class ScopeRef:
    """One node of the forest: a tenant, a legacy or a story."""

    kind: ScopeKind
    id: UUID


@dataclass(frozen=True)
class Resource:
    """The attributes every rule can look at; subclasses fill in what applies to them."""

    tenant_id: UUID | None

    kind: ClassVar[ResourceKind] = ResourceKind.TENANT  # overridden by every subclass

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        """Scopes whose roles apply here, root first."""
        return (ScopeRef(ScopeKind.TENANT, self.tenant_id),) if self.tenant_id else ()

    @property
    def below_tenant(self) -> bool:
        """Whether the resource lives below its tenant, where a tenant's contributors and
        viewers hold no role (``roles.INHERITED_FROM_TENANT``)."""
        return len(self.chain) > 1

    @property
    def owner_id(self) -> UUID | None:
        """The user this resource belongs to (author, creator, the member), if any."""
        return None

    @property
    def visibility(self) -> Visibility | None:
        return None

    @property
    def addressee(self) -> str | None:
        """The email address the resource is meant for (an invitation), if any."""
        return None

    def describe(self) -> str:
        """A short name for logs and the audit trail."""
        return f"{self.kind.value}:{self.tenant_id}"


@dataclass(frozen=True)
class TenantResource(Resource):
    tenant_id: UUID

    kind: ClassVar[ResourceKind] = ResourceKind.TENANT


@dataclass(frozen=True)
class MembershipResource(Resource):
    """A user's membership of a tenant; ``user_id`` None stands for "any member" (a create)."""

    tenant_id: UUID
    user_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.MEMBERSHIP

    @property
    def owner_id(self) -> UUID | None:
        return self.user_id

    def describe(self) -> str:
        return f"membership:{self.tenant_id}/{self.user_id}"


@dataclass(frozen=True)
class InvitationResource(Resource):
    tenant_id: UUID
    invitation_id: UUID | None = None
    email: str | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.INVITATION

    @property
    def addressee(self) -> str | None:
        return self.email

    def describe(self) -> str:
        return f"invitation:{self.invitation_id or 'new'}"


@dataclass(frozen=True)
class ApiKeyResource(Resource):
    tenant_id: UUID
    key_id: UUID | None = None
    created_by: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.API_KEY

    @property
    def owner_id(self) -> UUID | None:
        return self.created_by

    def describe(self) -> str:
        return f"api_key:{self.key_id or 'new'}"


@dataclass(frozen=True)
class AuditEventResource(Resource):
    """An audit event; ``tenant_id`` None for installation-wide events (a failed login)."""

    tenant_id: UUID | None
    event_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.AUDIT_EVENT

    def describe(self) -> str:
        return f"audit_event:{self.event_id or '*'}"


@dataclass(frozen=True)
class DeadLetterResource(Resource):
    """An event delivery a consumer gave up on: installation-wide, no tenant owns it."""

    tenant_id: UUID | None = None
    dead_letter_id: int | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.DEAD_LETTER

    def describe(self) -> str:
        return f"dead_letter:{self.dead_letter_id or '*'}"


@dataclass(frozen=True)
class LegacyResource(Resource):
    """A legacy; ``legacy_id`` None for one about to be created (its chain is the tenant)."""

    tenant_id: UUID
    legacy_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.LEGACY

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        tenant = (ScopeRef(ScopeKind.TENANT, self.tenant_id),)
        return tenant + ((ScopeRef(ScopeKind.LEGACY, self.legacy_id),) if self.legacy_id else ())

    def describe(self) -> str:
        return f"legacy:{self.legacy_id or 'new'}"


@dataclass(frozen=True)
class StoryResource(Resource):
    """A story; ``story_id`` None for one about to be created by ``author_id``."""

    tenant_id: UUID
    legacy_id: UUID
    author_id: UUID | None
    story_visibility: Visibility
    story_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.STORY

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        chain = (
            ScopeRef(ScopeKind.TENANT, self.tenant_id),
            ScopeRef(ScopeKind.LEGACY, self.legacy_id),
        )
        return chain + ((ScopeRef(ScopeKind.STORY, self.story_id),) if self.story_id else ())

    @property
    def owner_id(self) -> UUID | None:
        return self.author_id

    @property
    def visibility(self) -> Visibility | None:
        return self.story_visibility

    def describe(self) -> str:
        return f"story:{self.story_id or 'new'}"


def _legacy_chain(tenant_id: UUID, legacy_id: UUID | None) -> tuple[ScopeRef, ...]:
    tenant = (ScopeRef(ScopeKind.TENANT, tenant_id),)
    return tenant + ((ScopeRef(ScopeKind.LEGACY, legacy_id),) if legacy_id else ())


@dataclass(frozen=True)
class LegacyMemberResource(Resource):
    """A user's membership of a legacy; ``user_id`` None for "any member" (a list)."""

    tenant_id: UUID
    legacy_id: UUID
    user_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.LEGACY_MEMBER

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        return _legacy_chain(self.tenant_id, self.legacy_id)

    @property
    def owner_id(self) -> UUID | None:
        return self.user_id

    def describe(self) -> str:
        return f"legacy_member:{self.legacy_id}/{self.user_id or '*'}"


@dataclass(frozen=True)
class LegacyInvitationResource(Resource):
    """An invitation to a legacy; ``email`` None for a link invitation."""

    tenant_id: UUID
    legacy_id: UUID
    invitation_id: UUID | None = None
    email: str | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.LEGACY_INVITATION

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        return _legacy_chain(self.tenant_id, self.legacy_id)

    @property
    def addressee(self) -> str | None:
        return self.email

    def describe(self) -> str:
        return f"legacy_invitation:{self.invitation_id or 'new'}"


@dataclass(frozen=True)
class StoryFlagResource(Resource):
    """A moderation flag on a story of ``legacy_id``; ``flag_id`` None for the queue."""

    tenant_id: UUID
    legacy_id: UUID | None = None
    flag_id: UUID | None = None
    flagged_by: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.STORY_FLAG

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        return _legacy_chain(self.tenant_id, self.legacy_id)

    @property
    def owner_id(self) -> UUID | None:
        return self.flagged_by

    def describe(self) -> str:
        return f"story_flag:{self.flag_id or '*'}"


@dataclass(frozen=True)
class ConsentResource(Resource):
    """The consent records of a story, owned by the story's author."""

    tenant_id: UUID
    legacy_id: UUID
    story_author_id: UUID | None
    story_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.CONSENT

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        return _legacy_chain(self.tenant_id, self.legacy_id)

    @property
    def owner_id(self) -> UUID | None:
        return self.story_author_id

    def describe(self) -> str:
        return f"consent:{self.story_id or '*'}"


@dataclass(frozen=True)
class MediaResource(Resource):
    """A media file, uploaded by ``owner``, attached to a legacy or not."""

    tenant_id: UUID
    legacy_id: UUID | None
    uploaded_by: UUID | None
    media_id: UUID | None = None

    kind: ClassVar[ResourceKind] = ResourceKind.MEDIA

    @property
    def chain(self) -> tuple[ScopeRef, ...]:
        return _legacy_chain(self.tenant_id, self.legacy_id)

    @property
    def below_tenant(self) -> bool:
        # A file is always below its tenant, with or without a legacy, as the media table's
        # scope columns (tenant, legacy) say to the list filter: both decide alike.
        return True

    @property
    def owner_id(self) -> UUID | None:
        return self.uploaded_by

    def describe(self) -> str:
        return f"media:{self.media_id or 'new'}"


@dataclass(frozen=True)
class PersonalDataResource(Resource):
    """Everything a user's account holds: exported (read) or erased (delete) as one."""

    tenant_id: UUID
    user_id: UUID

    kind: ClassVar[ResourceKind] = ResourceKind.PERSONAL_DATA

    @property
    def owner_id(self) -> UUID | None:
        return self.user_id

    def describe(self) -> str:
        return f"personal_data:{self.user_id}"
