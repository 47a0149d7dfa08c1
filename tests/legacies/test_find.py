"""``legacies.service.find``, the function other packages use to check that a legacy exists
in the request's tenant: run here as the application's role, under row-level security."""

from __future__ import annotations

from uuid import UUID

import httpx
from fastapi import FastAPI

from mosaic.core.database import Database, bind_tenant
from mosaic.core.ids import new_id
from mosaic.legacies import service
from mosaic.models import ScopeRole
from tests.conftest import MemberFactory, TenantFactory
from tests.legacies.conftest import LegacyFactory


async def _found(app: FastAPI, *, tenant_id: UUID, reference: UUID | str) -> bool:
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        await bind_tenant(session, tenant_id)
        if isinstance(reference, UUID):
            return await service.find(session, reference) is not None
        return await service.find_by_reference(session, reference) is not None


async def test_find_sees_the_tenants_live_legacies_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_legacy: LegacyFactory,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
) -> None:
    live = await make_legacy("Live")
    gone = await make_legacy("Gone")
    await client.delete(gone.url, headers=gone.owner.headers)
    other = await make_member(await make_tenant(), ScopeRole.OWNER)
    tenant_id = live.owner.tenant_id

    assert await _found(app, tenant_id=tenant_id, reference=live.id)
    assert await _found(app, tenant_id=tenant_id, reference=live.slug)
    assert await _found(app, tenant_id=tenant_id, reference=str(live.id))
    assert not await _found(app, tenant_id=tenant_id, reference=gone.id)
    assert not await _found(app, tenant_id=tenant_id, reference=new_id())
    assert not await _found(app, tenant_id=other.tenant_id, reference=live.id)
    assert not await _found(app, tenant_id=other.tenant_id, reference=live.slug)
