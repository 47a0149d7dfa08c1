"""Every column referencing a user has an erasure rule, and the rules the security-definer
function carries out are in its definition: a new table cannot be forgotten silently."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.privacy.erasure_rules import ERASURE_RULES
from tests.privacy.test_contributors import columns_referencing_users


def test_every_column_referencing_a_user_has_an_erasure_rule() -> None:
    missing = columns_referencing_users() - set(ERASURE_RULES)

    assert not missing, f"No erasure rule (mosaic/privacy/erasure_rules.py) for {sorted(missing)}"


def test_rules_name_only_columns_that_reference_users() -> None:
    assert set(ERASURE_RULES) <= columns_referencing_users()


async def test_the_definer_function_handles_every_column_sent_to_it(
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with owner_sessions() as session:
        definition = await session.scalar(
            text(
                "SELECT pg_get_functiondef('mosaic_erase_tenant_data(uuid, varchar)'::regprocedure)"
            )
        )
    assert definition is not None
    for column, rule in ERASURE_RULES.items():
        if rule.where == "sql":
            table, name = column.split(".")
            assert f"public.{table} " in definition, column
            assert name in definition, column
