"""Row-level security keeps every tenant's rows to itself, on every kind of server.

These tests talk to PostgreSQL as the application role, exactly as requests do, on both the
embedded server and the machine's PostgreSQL 15.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy.engine import URL

from mosaic.core.database import TENANT_SETTING, DatabaseLocation
from mosaic.core.ids import new_id
from mosaic.core.settings import DatabaseSettings
from mosaic.migrations import runner
from mosaic.models import Base, TenantOwned

TENANT_OWNED_TABLES = sorted(
    str(mapper.persist_selectable.description)
    for mapper in Base.registry.mappers
    if issubclass(mapper.class_, TenantOwned)
)


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class TwoTenants:
    location: DatabaseLocation
    tenant_a: UUID
    tenant_b: UUID
    key_a: UUID
    key_b: UUID


@pytest.fixture
def two_tenants(fresh_database: str, database_settings: DatabaseSettings) -> TwoTenants:
    """A migrated database holding two tenants with one API key each (written as the owner)."""
    location = DatabaseLocation.for_owner(fresh_database, database_settings)
    runner.upgrade(location.owner_url, database_settings)
    tenant_a, tenant_b, key_a, key_b = new_id(), new_id(), new_id(), new_id()

    async def seed() -> None:
        connection = await asyncpg.connect(_dsn(location.owner_url))
        try:
            for tenant, key, slug in ((tenant_a, key_a, "a"), (tenant_b, key_b, "b")):
                await connection.execute(
                    "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $2)", tenant, slug
                )
                await connection.execute(
                    "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes)"
                    " VALUES ($1, $2, 'k', $3, 'x', '{}')",
                    key,
                    tenant,
                    f"msk_{slug}",
                )
        finally:
            await connection.close()

    asyncio.run(seed())
    return TwoTenants(location, tenant_a, tenant_b, key_a, key_b)


@pytest.fixture
async def app_connection(two_tenants: TwoTenants) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the application role, the way every request connects."""
    connection = await asyncpg.connect(_dsn(two_tenants.location.app_url))
    yield connection
    await connection.close()


async def _bind(connection: asyncpg.Connection, tenant: UUID) -> None:
    await connection.execute("SELECT set_config($1, $2, true)", TENANT_SETTING, str(tenant))


async def _as_tenant(
    connection: asyncpg.Connection, tenant: UUID, statement: str, *args: object
) -> str:
    """Run one statement in a transaction bound to ``tenant``."""
    async with connection.transaction():
        await _bind(connection, tenant)
        status: str = await connection.execute(statement, *args)
    return status


async def test_without_a_tenant_the_application_sees_no_rows(
    app_connection: asyncpg.Connection,
) -> None:
    for table in [*TENANT_OWNED_TABLES, "tenants"]:
        assert await app_connection.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608


async def test_a_tenant_sees_only_its_own_rows(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    async with app_connection.transaction():
        await _bind(app_connection, two_tenants.tenant_a)
        keys = await app_connection.fetch("SELECT id, tenant_id FROM api_keys")
        tenants = await app_connection.fetch("SELECT id FROM tenants")

    assert [(row["id"], row["tenant_id"]) for row in keys] == [
        (two_tenants.key_a, two_tenants.tenant_a)
    ]
    assert [row["id"] for row in tenants] == [two_tenants.tenant_a]


async def test_the_tenant_binding_ends_with_its_transaction(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    async with app_connection.transaction():
        await _bind(app_connection, two_tenants.tenant_a)

    assert await app_connection.fetchval("SELECT count(*) FROM api_keys") == 0


async def test_a_tenant_cannot_read_another_tenants_row_by_id(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    async with app_connection.transaction():
        await _bind(app_connection, two_tenants.tenant_a)
        found = await app_connection.fetchrow(
            "SELECT id FROM api_keys WHERE id = $1", two_tenants.key_b
        )

    assert found is None


async def test_a_tenant_cannot_insert_rows_for_another_tenant(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await _as_tenant(
            app_connection,
            two_tenants.tenant_a,
            "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes)"
            " VALUES ($1, $2, 'stolen', 'msk_stolen', 'x', '{}')",
            new_id(),
            two_tenants.tenant_b,
        )


async def test_a_tenant_cannot_move_its_rows_to_another_tenant(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await _as_tenant(
            app_connection,
            two_tenants.tenant_a,
            "UPDATE api_keys SET tenant_id = $1 WHERE id = $2",
            two_tenants.tenant_b,
            two_tenants.key_a,
        )


async def test_a_tenant_cannot_change_or_delete_another_tenants_rows(
    app_connection: asyncpg.Connection, two_tenants: TwoTenants
) -> None:
    async with app_connection.transaction():
        await _bind(app_connection, two_tenants.tenant_a)
        updated = await app_connection.execute(
            "UPDATE api_keys SET name = 'hijacked' WHERE id = $1", two_tenants.key_b
        )
        deleted = await app_connection.execute(
            "DELETE FROM api_keys WHERE id = $1", two_tenants.key_b
        )

    assert (updated, deleted) == ("UPDATE 0", "DELETE 0")
    owner = await asyncpg.connect(_dsn(two_tenants.location.owner_url))
    try:
        assert (
            await owner.fetchval("SELECT name FROM api_keys WHERE id = $1", two_tenants.key_b)
            == "k"
        )
    finally:
        await owner.close()


async def test_the_application_role_cannot_bypass_row_level_security(
    app_connection: asyncpg.Connection,
) -> None:
    role = await app_connection.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = current_user"
    )
    owned = await app_connection.fetchval(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
        " WHERE rolname = current_user)"
    )

    assert role is not None
    assert dict(role) == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
    }
    assert owned == 0


async def test_the_application_role_cannot_create_tenants_or_tables(
    app_connection: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_connection.execute(
            "INSERT INTO tenants (id, slug, name) VALUES ($1, 'rogue', 'Rogue')", new_id()
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_connection.execute("CREATE TABLE rogue (id int)")


async def test_every_tenant_owned_table_has_the_isolation_policy(
    app_connection: asyncpg.Connection,
) -> None:
    assert TENANT_OWNED_TABLES, "no tenant-owned models found"
    rows = await app_connection.fetch(
        "SELECT c.relname, c.relrowsecurity,"
        " EXISTS (SELECT FROM pg_policies p WHERE p.tablename = c.relname"
        "         AND p.policyname = 'tenant_isolation') AS has_policy"
        " FROM pg_class c WHERE c.relname = ANY($1::text[])",
        TENANT_OWNED_TABLES,
    )

    assert sorted((row["relname"], row["relrowsecurity"], row["has_policy"]) for row in rows) == [
        (table, True, True) for table in TENANT_OWNED_TABLES
    ]


async def test_every_tenant_owned_table_indexes_tenant_id_first(
    app_connection: asyncpg.Connection,
) -> None:
    rows = await app_connection.fetch(
        "SELECT t.relname AS table_name, i.relname AS index_name,"
        " (SELECT attname FROM pg_attribute WHERE attrelid = t.oid"
        "  AND attnum = x.indkey[0]) AS first_column, x.indnatts"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = ANY($1::text[])",
        TENANT_OWNED_TABLES,
    )
    compound = [row for row in rows if row["indnatts"] > 1]

    assert compound, "expected compound indexes on tenant-owned tables"
    assert [row["index_name"] for row in compound if row["first_column"] != "tenant_id"] == []
