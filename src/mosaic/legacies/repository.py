"""Queries of legacies, their members and invitations (row-level security keeps every one of
them inside the session's tenant; deleted legacies are tombstones that no query returns)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Float,
    Row,
    Select,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.core.pagination import inline_limit
from mosaic.models import Legacy, LegacyInvitation, LegacyMember, MembershipState, ScopeRole, User

LEGACY_ROWS = RowColumns(
    kind=ResourceKind.LEGACY,
    scopes={ScopeKind.TENANT: Legacy.tenant_id, ScopeKind.LEGACY: Legacy.id},
)
MEMBER_ROWS = RowColumns(
    kind=ResourceKind.LEGACY_MEMBER,
    scopes={ScopeKind.TENANT: LegacyMember.tenant_id, ScopeKind.LEGACY: LegacyMember.legacy_id},
    owner=LegacyMember.user_id,
)
INVITATION_ROWS = RowColumns(
    kind=ResourceKind.LEGACY_INVITATION,
    scopes={
        ScopeKind.TENANT: LegacyInvitation.tenant_id,
        ScopeKind.LEGACY: LegacyInvitation.legacy_id,
    },
)

MemberRow = Row[LegacyMember, str, str]


def _alive() -> ColumnElement[bool]:
    return Legacy.deleted_at.is_(None)


# Legacies


async def get_legacy(
    session: AsyncSession, legacy_id: UUID, *, for_update: bool = False
) -> Legacy | None:
    statement = _LEGACY_FOR_UPDATE if for_update else _LEGACY
    return (await session.execute(statement, {"legacy_id": legacy_id})).scalar_one_or_none()


# The most frequent query of all (every story and media request finds its legacy): built once.
_LEGACY = select(Legacy).where(Legacy.id == bindparam("legacy_id"), _alive())
_LEGACY_FOR_UPDATE = _LEGACY.with_for_update()


async def get_legacy_by_slug(session: AsyncSession, slug: str) -> Legacy | None:
    statement = select(Legacy).where(Legacy.slug == slug, _alive())
    return (await session.execute(statement)).scalar_one_or_none()


async def slugs_like(session: AsyncSession, base: str) -> list[str]:
    """The tenant's slugs that are ``base`` or ``base-<n>`` (tombstones included: a deleted
    legacy's slug stays taken, so old links never reach another legacy)."""
    pattern = "^" + _regex_escape(base) + "(-[0-9]+)?$"
    statement = select(Legacy.slug).where(Legacy.slug.regexp_match(pattern))
    return list((await session.execute(statement)).scalars())


def _regex_escape(text: str) -> str:
    # Slugs are [a-z0-9-] only; escaping the rest keeps the pattern literal regardless.
    return "".join(ch if ch.isalnum() or ch == "-" else "\\" + ch for ch in text)


async def list_member_legacies(
    session: AsyncSession,
    *,
    user_id: UUID,
    visible: ColumnElement[bool],
    after: UUID | None,
    limit: int,
) -> Sequence[Legacy]:
    """Legacies where ``user_id`` is an active member, in id order."""
    member = exists().where(
        LegacyMember.legacy_id == Legacy.id,
        LegacyMember.user_id == user_id,
        LegacyMember.state == MembershipState.ACTIVE,
    )
    statement = (
        select(Legacy)
        .where(_alive(), member, visible)
        .order_by(Legacy.id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(Legacy.id > after)
    return (await session.execute(statement)).scalars().all()


async def search_legacies(
    session: AsyncSession,
    *,
    text: str,
    visible: ColumnElement[bool],
    after: UUID | None,
    limit: int,
) -> Sequence[Row[Legacy, float]]:
    """Legacies whose name resembles ``text`` (pg_trgm), best first, then by id.

    ``name % text`` (whole-name similarity) and ``text <% name`` (the text resembles some
    part of the name: one word of a long name, or a typo in it) both use the trigram index.
    The cursor is the last id; the next page resumes below that row's (score, id).
    """
    query = literal(text)
    score = _score(Legacy, query)
    matches = or_(
        Legacy.name.op("%", is_comparison=True)(query),
        query.op("<%", is_comparison=True)(Legacy.name),
    )
    statement = (
        select(Legacy, score.label("score"))
        .where(_alive(), matches, visible)
        .order_by(score.desc(), Legacy.id.desc())
        .limit(inline_limit(limit))
    )
    if after is not None:
        previous = aliased(Legacy)
        previous_score = select(_score(previous, query)).where(previous.id == after)
        statement = statement.where(
            tuple_(score, Legacy.id) < tuple_(previous_score.scalar_subquery(), after)
        )
    return (await session.execute(statement)).all()


def _score(legacy: type[Legacy], query: ColumnElement[str]) -> ColumnElement[float]:
    return func.greatest(
        func.similarity(legacy.name, query), func.word_similarity(query, legacy.name)
    ).cast(Float)


# Members


def _members() -> Select[LegacyMember, str, str]:
    return select(LegacyMember, User.email, User.display_name).join(
        User, User.id == LegacyMember.user_id
    )


async def list_members(
    session: AsyncSession,
    *,
    legacy_id: UUID,
    visible: ColumnElement[bool],
    after: UUID | None,
    limit: int,
) -> Sequence[MemberRow]:
    statement = (
        _members()
        .where(LegacyMember.legacy_id == legacy_id, visible)
        .order_by(LegacyMember.user_id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(LegacyMember.user_id > after)
    return (await session.execute(statement)).all()


async def get_member(
    session: AsyncSession, legacy_id: UUID, user_id: UUID, *, for_update: bool = False
) -> MemberRow | None:
    statement = _members().where(
        LegacyMember.legacy_id == legacy_id, LegacyMember.user_id == user_id
    )
    if for_update:
        statement = statement.with_for_update(of=LegacyMember)
    return (await session.execute(statement)).one_or_none()


async def lock_active_owners(session: AsyncSession, legacy_id: UUID) -> list[UUID]:
    """The legacy's active owners, locked: two owners demoting each other at once serialise
    here, so the last-owner check cannot pass twice."""
    statement = (
        select(LegacyMember.user_id)
        .where(
            LegacyMember.legacy_id == legacy_id,
            LegacyMember.role == ScopeRole.OWNER,
            LegacyMember.state == MembershipState.ACTIVE,
        )
        .with_for_update()
    )
    return list((await session.execute(statement)).scalars())


async def delete_member(session: AsyncSession, legacy_id: UUID, user_id: UUID) -> None:
    await session.execute(
        delete(LegacyMember).where(
            LegacyMember.legacy_id == legacy_id, LegacyMember.user_id == user_id
        )
    )


# Invitations


async def list_invitations(
    session: AsyncSession,
    *,
    legacy_id: UUID,
    visible: ColumnElement[bool],
    after: UUID | None,
    limit: int,
) -> Sequence[LegacyInvitation]:
    statement = (
        select(LegacyInvitation)
        .where(LegacyInvitation.legacy_id == legacy_id, visible)
        .order_by(LegacyInvitation.id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(LegacyInvitation.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_invitation(
    session: AsyncSession, legacy_id: UUID, invitation_id: UUID, *, for_update: bool = False
) -> LegacyInvitation | None:
    statement = select(LegacyInvitation).where(
        LegacyInvitation.id == invitation_id, LegacyInvitation.legacy_id == legacy_id
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def find_invitation_by_hash(
    session: AsyncSession, token_hash: str, *, for_update: bool = False
) -> LegacyInvitation | None:
    """The invitation a token stands for, in the session's tenant only."""
    statement = select(LegacyInvitation).where(LegacyInvitation.token_hash == token_hash)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()
