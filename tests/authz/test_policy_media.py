"""The policy's MEDIA rules, written out by hand like ``test_policy``'s matrices: a legacy's
media are its members', always their uploader's; uploads take a contributor acting as
themselves; deleting is the uploader's, the legacy owner's or an administrator's."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import Action, MediaResource
from tests.authz.conftest import World
from tests.authz.test_policy import INHERITING, NOBODY, READERS, STAFF, ResourceFor, _check


def _media(*, by_self: bool) -> ResourceFor:
    def build(world: World, user_id: UUID | None) -> MediaResource:
        uploader = user_id if by_self else UUID(int=7)
        return MediaResource(world.tenant_id, UUID(int=1), uploader, UUID(int=3))

    return build


# Nobody here holds a role in the media's legacy: below the tenant only a tenant's owners and
# editors inherit (and a key without a user, which acts as the tenant's owner).
MEDIA_MATRIX: list[tuple[Action, bool, frozenset[str]]] = [
    (Action.READ, False, INHERITING | STAFF | {"service"}),
    (Action.LIST, False, INHERITING | STAFF | {"service"}),
    (Action.READ, True, READERS),
    (Action.CREATE, True, INHERITING),
    (Action.CREATE, False, NOBODY),
    (Action.DELETE, False, frozenset({"owner", "admin", "service"})),
    (Action.DELETE, True, READERS),
]


@pytest.mark.parametrize(
    ("action", "by_self", "expected"),
    MEDIA_MATRIX,
    ids=[f"{a.value}-{'own' if s else 'other'}" for a, s, _ in MEDIA_MATRIX],
)
async def test_media(
    tenant_session: AsyncSession,
    world: World,
    action: Action,
    by_self: bool,
    expected: frozenset[str],
) -> None:
    await _check(tenant_session, world, action, _media(by_self=by_self), expected)


def _media_without_legacy(world: World, user_id: UUID | None) -> MediaResource:
    return MediaResource(world.tenant_id, None, UUID(int=7), UUID(int=3))


# Still below the tenant, as the media list filter has it: a tenant's contributors and viewers
# read no file, whether or not it belongs to a legacy.
@pytest.mark.parametrize("action", [Action.READ, Action.LIST], ids=lambda action: action.value)
async def test_media_without_a_legacy_is_still_below_the_tenant(
    tenant_session: AsyncSession, world: World, action: Action
) -> None:
    expected = INHERITING | STAFF | {"service"}
    await _check(tenant_session, world, action, _media_without_legacy, expected)
