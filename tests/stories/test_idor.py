"""Ids of stories one may not see answer 404 on every endpoint: another tenant's, another
legacy's private ones, and consent or flag ids that belong to another story."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.stories.conftest import Community, StoryWriter

# (method, path template, body)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/stories/{id}", None),
    ("PUT", "/api/v1/stories/{id}", {"title": "x", "content": "y", "visibility": "public"}),
    ("PATCH", "/api/v1/stories/{id}", {"title": "x"}),
    ("DELETE", "/api/v1/stories/{id}", None),
    ("GET", "/api/v1/stories/{id}/revisions", None),
    ("GET", "/api/v1/stories/{id}/revisions/1", None),
    ("POST", "/api/v1/stories/{id}/revisions/1/restore", None),
    ("POST", "/api/v1/stories/{id}/flags", {"reason": "spam"}),
    ("POST", "/api/v1/stories/{id}/consents", {"person_name": "Bob"}),
    ("GET", "/api/v1/stories/{id}/consents", None),
    ("PATCH", "/api/v1/stories/{id}/consents/00000000-0000-0000-0000-000000000001",
     {"status": "granted"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS]
)
@pytest.mark.parametrize("whose", ["other_tenant", "other_legacy"])
async def test_a_story_one_cannot_see_is_404_everywhere(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    whose: str,
) -> None:
    if whose == "other_tenant":
        story = await write_story("other_tenant", legacy_id=community.other_tenant_legacy_id)
        caller = "owner"  # the owner of a legacy in the first tenant
    else:
        story = await write_story("outsider", legacy_id=community.other_legacy_id)
        caller = "owner"  # owns a legacy in the same tenant, not this one

    response = await client.request(
        method, path.format(id=story["id"]), json=body, headers=community.headers(caller)
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "STORY_NOT_FOUND"


async def test_a_consent_of_another_story_is_404(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    first, second = await write_story(), await write_story()
    headers = community.headers("author")
    consent = await client.post(
        f"/api/v1/stories/{first['id']}/consents", json={"person_name": "Bob"}, headers=headers
    )

    response = await client.patch(
        f"/api/v1/stories/{second['id']}/consents/{consent.json()['id']}",
        json={"status": "granted"},
        headers=headers,
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "CONSENT_NOT_FOUND"


async def test_a_flag_of_another_tenant_is_404(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(
        "other_tenant", legacy_id=community.other_tenant_legacy_id, visibility="public"
    )
    flag = await client.post(
        f"/api/v1/stories/{story['id']}/flags",
        json={"reason": "spam"},
        headers=community.headers("other_tenant"),
    )
    assert flag.status_code == 201

    response = await client.post(
        f"/api/v1/moderation/flags/{flag.json()['id']}/resolve",
        json={"resolution": "hidden"},
        headers=community.headers("owner"),
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "FLAG_NOT_FOUND"
