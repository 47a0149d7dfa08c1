"""Human slugs for legacies: derived once from the name, unique per tenant, never changed."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from uuid import UUID

SLUG_MAX = 100  # the column holds 120: room for a "-<n>" suffix
FALLBACK = "legacy"
# Words a slug may not be on its own: they are paths of the API (``/legacies/search``).
RESERVED = frozenset({"search", "me", "new"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_SUFFIXED = re.compile(r"^(?P<base>.+)-(?P<n>[0-9]+)$")


def base_slug(name: str) -> str:
    """``"Émile Zola (1840-1902)"`` → ``"emile-zola-1840-1902"``: accents folded to ASCII,
    letters without an ASCII form dropped, anything else (spaces, dashes, brackets) a hyphen."""
    decomposed = unicodedata.normalize("NFKD", name.lower())
    kept = "".join(
        char if char.isascii() else ("" if unicodedata.category(char)[0] in "LM" else "-")
        for char in decomposed
    )
    slug = _NOT_ALNUM.sub("-", kept).strip("-")[:SLUG_MAX].rstrip("-")
    return slug or FALLBACK


def _usable(slug: str) -> bool:
    if slug in RESERVED:
        return False
    try:
        UUID(slug)  # a slug that reads as an id would hide the legacy with that id
    except ValueError:
        return True
    return False


def next_free(base: str, taken: Iterable[str]) -> str:
    """``base`` if free, else ``base-2``, ``base-3``, … after the highest suffix in use."""
    used = set(taken)
    if base not in used and _usable(base):
        return base
    highest = 1
    for slug in used:
        match = _SUFFIXED.match(slug)
        if match and match["base"] == base:
            highest = max(highest, int(match["n"]))
    return f"{base}-{highest + 1}"
