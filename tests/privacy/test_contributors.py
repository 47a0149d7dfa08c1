"""Every column that references a user is covered by some subject-access contributor, and
every contributor's claim names a real column: a new table cannot be forgotten silently."""

from __future__ import annotations

from mosaic.models import Base
from mosaic.privacy.contributors import CONTRIBUTORS, covered_columns


def columns_referencing_users() -> set[str]:
    found = {"users.id"}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if any(key.column.table.name == "users" for key in column.foreign_keys):
                found.add(f"{table.name}.{column.name}")
    return found


def test_every_column_referencing_a_user_is_covered_by_a_contributor() -> None:
    missing = columns_referencing_users() - covered_columns()

    assert not missing, (
        f"Not covered by any personal_data contributor: {sorted(missing)}. Report them in the "
        "owning package's personal_data.py (and decide their erasure rule, docs/privacy.md)."
    )


def test_contributors_claim_only_columns_that_reference_users() -> None:
    assert covered_columns() <= columns_referencing_users()


def test_each_package_contributes_once() -> None:
    packages = [contributor.package for contributor in CONTRIBUTORS]

    assert len(packages) == len(set(packages))
