"""The request's subject: its principal, what the policy knows about its user, a fresh decision
memo and the audit sink for denials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mosaic.authz.denials import AuditedDenials
from mosaic.authz.subject import Subject
from mosaic.core.dependencies import RequestSession, app_database
from mosaic.identity.audit import Origin
from mosaic.identity.dependencies import CurrentPrincipal, app_identity
from mosaic.models import PlatformRole, UserStatus


async def _subject(
    request: Request,
    principal: CurrentPrincipal,
    # Bound to the principal's tenant: authenticating did that, and it comes first. Not
    # ``TenantSession``: FastAPI walks a dependency's whole sub-tree at every place it is
    # declared, and authentication's would be walked twice more on every request (the app's
    # state is read rather than declared for the same reason).
    session: RequestSession,
) -> Subject:
    identity = app_identity(request)
    denials = AuditedDenials(app_database(request).sessionmaker, Origin.of(request))
    user_id = Subject.of(principal).user_id
    # Authentication has just read (or taken from its few-second cache) the same row: the
    # user's role, status and email come from there instead of another query.
    access = (
        await identity.access_cache.get(session, user_id, principal.tenant_id) if user_id else None
    )
    if access is None:
        return Subject.of(principal, denials=denials)
    return Subject.of(
        principal,
        platform_role=PlatformRole(access.role),
        email=access.email,
        disabled=access.status is UserStatus.DISABLED,
        denials=denials,
    )


# One per request: its memo never outlives the request, so a changed role is seen next time.
CurrentSubject = Annotated[Subject, Depends(_subject)]
