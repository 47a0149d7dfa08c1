"""Markdown to safe HTML: markdown-it-py (CommonMark, raw HTML off) then nh3's allowlist.

The Markdown is stored exactly as written; this HTML is derived on every read, so changing
the allowlist never needs a data migration. Rendering costs milliseconds per story (more than
the list query itself), so renderings of stories up to ``CACHED_UP_TO`` characters are kept in
a per-process LRU keyed by the Markdown: the function is pure, so a cached answer is never stale.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# Seed 002's allowlist (p, br, strong, em, a, lists, h1-h3, img) plus the block elements
# CommonMark itself produces for quotes, code and rules.
_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "img", "blockquote", "code", "pre", "hr",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
_URL_SCHEMES = {"http", "https", "mailto"}

# Raw HTML in the Markdown is shown as text rather than interpreted: nothing a writer types
# becomes markup that the sanitizer would then have to catch.
_markdown = MarkdownIt("commonmark", {"html": False})


# 1,024 renderings of at most 8,000 characters: tens of megabytes at worst, a few typically.
CACHED_UP_TO = 8_000
_CACHE_SIZE = 1_024


def to_html(markdown: str) -> str:
    """The sanitized HTML rendering of ``markdown``."""
    if len(markdown) > CACHED_UP_TO:
        return _render(markdown)
    return _render_cached(markdown)


def _render(markdown: str) -> str:
    return nh3.clean(
        _markdown.render(markdown),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
    )


_render_cached = lru_cache(maxsize=_CACHE_SIZE)(_render)
