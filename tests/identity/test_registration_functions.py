"""The security-definer functions registration uses cannot add a member to a second tenant."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mosaic.core.database import Database
from mosaic.core.ids import new_id
from tests.identity.conftest import AccountFactory


def _database(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


async def test_an_existing_member_cannot_join_the_registration_tenant_again(
    app: FastAPI, make_account: AccountFactory
) -> None:
    account = await make_account()

    with pytest.raises(DBAPIError, match="already belongs to a tenant"):
        async with _database(app).sessionmaker() as session, session.begin():
            await session.execute(
                text("SELECT mosaic_join_registration_tenant(:member, 'default')"),
                {"member": account.id},
            )


async def test_an_existing_member_cannot_create_a_tenant_of_their_own(
    app: FastAPI, make_account: AccountFactory
) -> None:
    account = await make_account()

    with pytest.raises(DBAPIError, match="already belongs to a tenant"):
        async with _database(app).sessionmaker() as session, session.begin():
            await session.execute(
                text("SELECT mosaic_create_own_tenant(:member, :tenant, :slug, 'Mine')"),
                {"member": account.id, "tenant": new_id(), "slug": f"u-{new_id().hex[-12:]}"},
            )
