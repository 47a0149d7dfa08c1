"""Fixtures for the identity API: a tenant whose key holds every scope."""

from __future__ import annotations

import pytest

from tests.conftest import TenantFactory, TenantWithKey


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> TenantWithKey:
    return await make_tenant()
