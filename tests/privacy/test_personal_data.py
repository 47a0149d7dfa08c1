"""GET /me/personal-data: subject access, every section the contributors know, no secrets."""

from __future__ import annotations

from typing import Any

import httpx

from mosaic.core.personal_data import SECRET_COLUMNS
from tests.privacy.conftest import World


async def personal_data(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get("/api/v1/me/personal-data", headers=world.alice.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def keys_everywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_everywhere(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_everywhere(item)}
    return set()


async def test_the_answer_covers_every_table_about_the_user(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await personal_data(client, world)
    sections = body["sections"]

    assert body["user_id"] == str(world.alice.id)
    assert sections["profile"][0]["email"] == world.alice.email
    assert sections["profile"][0]["first_name"] == world.alice.first_name
    assert [row["tenant_id"] for row in sections["memberships"]] == [str(world.tenant.id)]
    assert len(sections["api_keys"]) == 1
    assert {row["title"] for row in sections["stories"]} == {
        "Summer at the lake",
        "A note for me",
        "Joe's workshop",  # Bob's, but Alice's write was the last
    }
    assert {(row["story_id"], row["version"]) for row in sections["story_revisions"]} == {
        (str(world.alice_public_story), 1),
        (str(world.alice_personal_story), 1),
        (str(world.bob_story), 2),
    }
    assert len(sections["story_flags"]) == 1
    assert len(sections["consent_records"]) == 1
    assert sorted(row["filename"] for row in sections["media"]) == ["me.jpg", "rose.jpg"]
    assert len(sections["legacy_memberships"]) == 3  # two of hers, one she approved
    assert {row["name"] for row in sections["legacies"]} == {"Grandma Rose"}
    audit_subjects = {row["subject"] for row in sections["audit_events"]}
    assert f"email:{world.alice.email}" in audit_subjects
    for name in ("browser_sessions", "refresh_tokens", "identities", "password_resets"):
        assert sections[name] == []


async def test_secrets_are_never_part_of_the_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await personal_data(client, world)

    assert not keys_everywhere(body) & SECRET_COLUMNS
    assert world.alice.member.key not in str(body)


async def test_other_tenants_data_is_not_part_of_the_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await personal_data(client, world)

    titles = {row["title"] for row in body["sections"]["stories"]}
    assert "Elsewhere" not in titles
    assert "far.jpg" not in str(body)


async def test_the_answer_has_an_etag(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/v1/me/personal-data", headers=world.alice.headers)

    assert response.headers["etag"]


async def test_a_key_without_the_export_scope_is_refused(
    client: httpx.AsyncClient, world: World, make_member: Any
) -> None:
    member = await make_member(world.tenant, scopes=frozenset({"stories:read"}))

    response = await client.get("/api/v1/me/personal-data", headers=member.headers)

    assert response.status_code == 403
