"""Request and response shapes of stories, revisions, flags and consent records.

Text limits follow seed 002 (title 1..500, content 1..50,000 characters). Seed 002 strips
null bytes silently; here they, like every other control character, are refused with a 422:
a client sending them has a bug worth hearing about, and content is stored exactly as written.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mosaic.models import (
    ConsentStatus,
    FlagReason,
    FlagResolution,
    FlagState,
    ModerationState,
    StoryVisibility,
)

MAX_TITLE = 500
MAX_CONTENT = 50_000
MAX_TAGS = 20
MAX_TAG = 50
MAX_NOTE = 2_000

# Line breaks and tabs are text in Markdown; every other control character is not.
_TEXT_CONTROLS = frozenset("\n\r\t")


def _controls(value: str, allowed: frozenset[str]) -> str:
    if any(unicodedata.category(char) == "Cc" and char not in allowed for char in value):
        raise ValueError("must not contain null bytes or control characters")
    return value


def _line(value: str) -> str:
    return _controls(value, frozenset())


def _text(value: str) -> str:
    return _controls(value, _TEXT_CONTROLS)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE),
    AfterValidator(_line),
]
# Not stripped: the Markdown is kept byte for byte (trailing spaces are line breaks in it).
Content = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_CONTENT),
    AfterValidator(_text),
    AfterValidator(_not_blank),
]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG),
    AfterValidator(_line),
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE), AfterValidator(_text)]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_line),
]
Contact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=320),
    AfterValidator(_line),
]


def distinct(tags: list[str]) -> list[str]:
    """Tags once each, in the order given."""
    return list(dict.fromkeys(tags))


class StoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legacy_id: UUID
    title: Title
    content: Content
    visibility: StoryVisibility = StoryVisibility.PRIVATE
    tags: Tags = Field(default_factory=list)


class StoryReplace(BaseModel):
    """``PUT``: the story's whole editable state."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    content: Content
    visibility: StoryVisibility
    tags: Tags = Field(default_factory=list)


class StoryPatch(BaseModel):
    """``PATCH``: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    content: Content | None = None
    visibility: StoryVisibility | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _something(self) -> StoryPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, content, visibility, tags")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class StoryRead(BaseModel):
    """A story: its Markdown as written and the sanitized HTML rendering of it."""

    id: UUID
    legacy_id: UUID
    author_id: UUID | None
    title: str
    content: str
    content_html: str
    visibility: StoryVisibility
    tags: list[str]
    version: int
    moderation_state: ModerationState
    created_at: datetime
    updated_at: datetime


class RevisionRead(BaseModel):
    """One immutable version of a story."""

    model_config = ConfigDict(from_attributes=True)

    story_id: UUID
    version: int
    title: str
    content: str
    visibility: StoryVisibility
    tags: list[str]
    restored_from: int | None
    actor_id: UUID | None
    created_at: datetime


class FlagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: FlagReason
    note: Note | None = None


class FlagResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: FlagResolution
    note: Note | None = None


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    story_id: UUID
    flagged_by: UUID | None
    reason: FlagReason
    note: str | None
    state: FlagState
    resolution: FlagResolution | None
    resolved_by: UUID | None
    resolved_at: datetime | None
    resolution_note: str | None
    created_at: datetime


class ConsentCreate(BaseModel):
    """A living person named in the story, and where their consent stands."""

    model_config = ConfigDict(extra="forbid")

    person_name: PersonName
    contact: Contact | None = None
    status: ConsentStatus = ConsentStatus.REQUESTED
    note: Note | None = None


class ConsentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ConsentStatus | None = None
    contact: Contact | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _something(self) -> ConsentUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of status, contact, note")
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self


class ConsentRead(BaseModel):
    id: UUID
    story_id: UUID
    person_name: str
    contact: str | None
    status: ConsentStatus
    note: str | None
    decided_at: datetime | None
    recorded_by: UUID | None
    created_at: datetime
    updated_at: datetime
