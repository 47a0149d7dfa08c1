"""Request dependencies of the stories routes, each declared once as an ``Annotated`` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from mosaic.authz import Subject
from mosaic.core.dependencies import SettingsDep
from mosaic.core.provenance import Provenance
from mosaic.core.rate_limiting import RateLimiter, parse_limit
from mosaic.identity.dependencies import CurrentPrincipal
from mosaic.stories.preconditions import IfMatch

# Seed 002 (spam prevention): "Rate limiting (10 stories/minute …)", per user.
STORY_CREATION_LIMIT = parse_limit("10/minute")


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The story\'s ETag (`"3"`) or bare version (`3`): the write goes '
            "through only while the story is still at that version (412 otherwise).",
        ),
    ] = None,
) -> IfMatch:
    return IfMatch.parse(if_match)


async def _provenance(request: Request, principal: CurrentPrincipal) -> Provenance:
    return Provenance.of(principal, request)


async def _story_creation_budget(
    request: Request, principal: CurrentPrincipal, settings: SettingsDep
) -> None:
    """Count one story creation for the caller (the user, whatever credential they use);
    429 past the limit."""
    if not settings.rate_limits.rate_limit_enabled:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    user_id = Subject.of(principal).user_id
    who = str(user_id) if user_id else principal.key
    await limiter.hit(STORY_CREATION_LIMIT, "story-create", str(principal.tenant_id), who)


IfMatchDep = Annotated[IfMatch, Depends(_if_match)]
ProvenanceDep = Annotated[Provenance, Depends(_provenance)]
StoryCreationBudget = Depends(_story_creation_budget)
