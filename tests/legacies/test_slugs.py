"""Slug derivation and collision suffixes, without a database."""

from __future__ import annotations

import pytest

from mosaic.legacies.slugs import SLUG_MAX, base_slug, next_free


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Ada Lovelace", "ada-lovelace"),
        ("  Émile   Zola (1840\u20131902) ", "emile-zola-1840-1902"),
        ("Søren Kierkegaard", "sren-kierkegaard"),
        ("李白", "legacy"),
        ("---", "legacy"),
        ("x" * 300, "x" * SLUG_MAX),
        ("a" * (SLUG_MAX - 1) + " b", "a" * (SLUG_MAX - 1)),
    ],
)
def test_base_slug(name: str, slug: str) -> None:
    assert base_slug(name) == slug


def test_the_next_free_slug_follows_the_highest_suffix() -> None:
    assert next_free("ada", []) == "ada"
    assert next_free("ada", ["ada"]) == "ada-2"
    assert next_free("ada", ["ada", "ada-2", "ada-7"]) == "ada-8"
    # "ada-lovelace" shares the prefix but is not a suffixed "ada".
    assert next_free("ada", ["ada", "ada-lovelace"]) == "ada-2"


def test_reserved_words_and_ids_are_never_slugs() -> None:
    assert next_free("search", []) == "search-2"
    uuid_like = "01234567-89ab-cdef-0123-456789abcdef"
    assert next_free(uuid_like, []) == f"{uuid_like}-2"
