"""Content rules: seed 002's limits, no control characters, Markdown kept verbatim and
rendered to sanitized HTML; the creation rate limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.stories.conftest import Community

GOOD = {"title": "A title", "content": "Some *Markdown*"}


async def _create(client: httpx.AsyncClient, community: Community, **fields: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/stories",
        json={"legacy_id": str(community.legacy_id), **GOOD, **fields},
        headers=community.headers("author"),
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 501},
        {"title": "null\x00byte"},
        {"title": "line\nbreak"},
        {"content": ""},
        {"content": " \n "},
        {"content": "x" * 50_001},
        {"content": "null\x00byte"},
        {"content": "bell\x07"},
        {"content": "escape\x1b[31m"},
        {"visibility": "friends"},
        {"tags": ["x" * 51]},
        {"tags": [f"t{n}" for n in range(21)]},
        {"tags": ["bad\x00tag"]},
        {"author_id": "00000000-0000-0000-0000-000000000001"},
    ],
    ids=lambda fields: repr(fields)[:40],
)
async def test_bad_content_is_422(
    client: httpx.AsyncClient, community: Community, fields: dict[str, Any]
) -> None:
    response = await _create(client, community, **fields)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_the_limits_themselves_are_allowed(
    client: httpx.AsyncClient, community: Community
) -> None:
    response = await _create(
        client, community, title="x" * 500, content="y" * 50_000, tags=["z" * 50] * 20
    )

    assert response.status_code == 201, response.text
    assert len(response.json()["title"]) == 500
    assert response.json()["tags"] == ["z" * 50]


async def test_markdown_is_stored_verbatim_and_rendered_safely(
    client: httpx.AsyncClient, community: Community
) -> None:
    markdown = (
        "# Hello\n\n<script>alert('x')</script>\n\n"
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)>\t\r\n"
        "**bold** and [a link](https://example.test)  \n"
    )

    created = await _create(client, community, content=markdown)
    read = await client.get(
        f"/api/v1/stories/{created.json()['id']}", headers=community.headers("author")
    )

    body = read.json()
    assert body["content"] == markdown
    html = body["content_html"]
    assert "<script" not in html
    assert "onerror=" not in html.replace("onerror=alert(1)&gt;", "")  # only as escaped text
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")
    assert "<h1>Hello</h1>" in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.test" rel="noopener noreferrer">a link</a>' in html


async def test_the_title_is_trimmed_but_the_content_is_not(
    client: httpx.AsyncClient, community: Community
) -> None:
    response = await _create(client, community, title="  Padded  ", content="  two spaces  ")

    assert response.json()["title"] == "Padded"
    assert response.json()["content"] == "  two spaces  "


async def test_story_creation_is_limited_to_ten_a_minute_per_user(
    client: httpx.AsyncClient, community: Community
) -> None:
    statuses = [(await _create(client, community)).status_code for _ in range(11)]
    other_user = await client.post(
        "/api/v1/stories",
        json={"legacy_id": str(community.legacy_id), **GOOD},
        headers=community.headers("member"),
    )

    assert statuses == [201] * 10 + [429]
    assert other_user.status_code == 201
    limited = await _create(client, community)
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1
