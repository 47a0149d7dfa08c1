"""Markdown to sanitized HTML, cached or not."""

from __future__ import annotations

from mosaic.stories.rendering import CACHED_UP_TO, to_html


def test_long_and_short_content_render_alike() -> None:
    paragraph = "A *line* with <b>html</b> and [a link](https://example.test).\n\n"
    short = paragraph
    long = paragraph * (CACHED_UP_TO // len(paragraph) + 1)

    assert len(long) > CACHED_UP_TO
    assert to_html(long) == to_html(short) * (CACHED_UP_TO // len(paragraph) + 1)
    assert to_html(short) == to_html(short)  # cached
    assert "<b>" not in to_html(short)


def test_dangerous_urls_never_become_links() -> None:
    html = to_html("[x](javascript:alert(1)) ![y](data:text/html;base64,AAAA) [z](vbscript:x)")

    assert "href" not in html
    assert "src" not in html
