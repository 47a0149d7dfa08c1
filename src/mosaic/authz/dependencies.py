"""The request's subject: its principal, what the policy knows about its user, a fresh decision
memo and the audit sink for denials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mosaic.authz import repository
from mosaic.authz.denials import AuditedDenials
from mosaic.authz.subject import Subject
from mosaic.core.dependencies import DatabaseDep
from mosaic.identity.audit import Origin
from mosaic.identity.dependencies import CurrentPrincipal, TenantSession


async def _subject(
    request: Request, session: TenantSession, principal: CurrentPrincipal, database: DatabaseDep
) -> Subject:
    denials = AuditedDenials(database.sessionmaker, Origin.of(request))
    user_id = Subject.of(principal).user_id
    standing = await repository.user_standing(session, user_id) if user_id else None
    if standing is None:
        return Subject.of(principal, denials=denials)
    return Subject.of(
        principal,
        platform_role=standing.platform_role,
        email=standing.email,
        disabled=standing.disabled,
        denials=denials,
    )


# One per request: its memo never outlives the request, so a changed role is seen next time.
CurrentSubject = Annotated[Subject, Depends(_subject)]
