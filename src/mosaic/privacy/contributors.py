"""The subject-access contributors, one per domain package: the one visible table of them.

A package whose tables reference users adds its ``personal_data.CONTRIBUTOR`` here; the
coverage test (``tests/privacy/test_contributors.py``) walks the schema and fails for any
column referencing ``users.id`` that no contributor covers.
"""

from __future__ import annotations

from mosaic.core.personal_data import Contributor
from mosaic.identity import personal_data as identity
from mosaic.legacies import personal_data as legacies
from mosaic.media import personal_data as media
from mosaic.stories import personal_data as stories

CONTRIBUTORS: tuple[Contributor, ...] = (
    identity.CONTRIBUTOR,
    legacies.CONTRIBUTOR,
    stories.CONTRIBUTOR,
    media.CONTRIBUTOR,
)


def covered_columns() -> frozenset[str]:
    """Every ``table.column`` some contributor reports."""
    return frozenset().union(*(contributor.covers for contributor in CONTRIBUTORS))
