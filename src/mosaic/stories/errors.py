"""Errors of the stories module."""

from mosaic.core.errors import Conflict, NotFound, PreconditionFailed


class StoryNotFound(NotFound):
    code = "STORY_NOT_FOUND"
    default_message = "The story was not found"


class LegacyNotFound(NotFound):
    code = "LEGACY_NOT_FOUND"
    default_message = "The legacy was not found"


class RevisionNotFound(NotFound):
    code = "REVISION_NOT_FOUND"
    default_message = "The story has no such revision"


class FlagNotFound(NotFound):
    code = "FLAG_NOT_FOUND"
    default_message = "The flag was not found"


class ConsentNotFound(NotFound):
    code = "CONSENT_NOT_FOUND"
    default_message = "The consent record was not found"


class StoryChanged(PreconditionFailed):
    """``If-Match`` named a version that is no longer the story's current one."""

    code = "STORY_CHANGED"
    default_message = "The story has changed since you read it; read it again and retry"


class EditConflict(Conflict):
    """Another write landed between this request's read and its compare-and-set (the client
    sent no ``If-Match``, so there was nothing to fail as a precondition)."""

    code = "EDIT_CONFLICT"
    default_message = "The story was changed by another request at the same time; retry"


class FlagAlreadyOpen(Conflict):
    code = "FLAG_ALREADY_OPEN"
    default_message = "You already have an open flag on this story"


class FlagAlreadyResolved(Conflict):
    code = "FLAG_ALREADY_RESOLVED"
    default_message = "The flag was already resolved"
