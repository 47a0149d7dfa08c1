"""The identity API over HTTP: the current tenant and API keys."""

from __future__ import annotations

import httpx

from tests.conftest import TenantFactory


async def test_reading_the_current_tenant_needs_a_credential(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_api_key_acts_in_its_own_tenant(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()

    response = await client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {tenant.key}"})

    assert response.status_code == 200
    assert response.json()["id"] == str(tenant.id)
