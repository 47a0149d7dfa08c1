"""GET /export: the caller's stories as Markdown with front matter, one folder per legacy, a
media manifest and a README; only the caller's data in the credential's tenant."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx

from tests.conftest import MemberFactory
from tests.privacy.conftest import World


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter (every value is JSON, a subset of YAML) and the body."""
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    fields = {}
    for line in header.splitlines():
        name, value = line.split(": ", 1)
        fields[name] = json.loads(value)
    return fields, body.lstrip("\n")


async def export(client: httpx.AsyncClient, headers: dict[str, str]) -> zipfile.ZipFile:
    response = await client.get("/api/v1/export", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    return zipfile.ZipFile(io.BytesIO(response.content))


async def test_the_archive_holds_own_stories_per_legacy_with_front_matter(
    client: httpx.AsyncClient, world: World
) -> None:
    archive = await export(client, world.alice.headers)

    stories = sorted(name for name in archive.namelist() if name.startswith("stories/"))
    assert len(stories) == 2
    folders = {name.split("/")[1] for name in stories}
    assert len(folders) == 2  # one folder per legacy
    parsed = [parse_front_matter(archive.read(name).decode()) for name in stories]
    by_title = {fields["title"]: (fields, body) for fields, body in parsed}
    assert set(by_title) == {"Summer at the lake", "A note for me"}
    fields, body = by_title["Summer at the lake"]
    assert fields["legacy"] == "Grandma Rose"
    assert fields["visibility"] == "public"
    assert fields["tags"] == ["summer", "lake"]
    assert fields["version"] == 1
    assert fields["id"] == str(world.alice_public_story)
    assert fields["created"]
    assert fields["updated"]
    assert body.startswith("# Summer at the lake")
    assert by_title["A note for me"][0]["legacy"] == "Uncle Joe"


async def test_the_manifest_lists_own_media_in_this_tenant(
    client: httpx.AsyncClient, world: World
) -> None:
    archive = await export(client, world.alice.headers)

    manifest = json.loads(archive.read("media/manifest.json"))["media"]
    assert sorted(item["filename"] for item in manifest) == ["me.jpg", "rose.jpg"]
    rose = next(item for item in manifest if item["filename"] == "rose.jpg")
    assert rose["content_type"] == "image/jpeg"
    assert rose["size_bytes"] == 1234
    assert rose["sha256"] == "ab" * 32
    assert rose["legacy"].startswith("grandma-rose")
    assert rose["created"]
    assert "README.txt" in archive.namelist()
    assert world.alice.display_name in archive.read("README.txt").decode()


async def test_other_authors_and_other_tenants_are_left_out(
    client: httpx.AsyncClient, world: World
) -> None:
    archive = await export(client, world.alice.headers)

    contents = "".join(archive.read(name).decode() for name in archive.namelist())
    assert "Joe's workshop" not in contents  # Bob's story, though Alice edited it
    assert "Elsewhere" not in contents  # Alice's own, but in her other tenant
    assert "far.jpg" not in contents
    assert "joe.jpg" not in contents


async def test_a_user_without_stories_gets_an_archive_with_an_empty_manifest(
    client: httpx.AsyncClient, world: World, make_member: MemberFactory
) -> None:
    newcomer = await make_member(world.tenant)

    archive = await export(client, newcomer.headers)

    assert json.loads(archive.read("media/manifest.json")) == {"media": []}
    assert not [name for name in archive.namelist() if name.startswith("stories/")]


async def test_a_service_key_without_a_user_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/api/v1/export", headers=world.tenant.headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "USER_ACCOUNT_REQUIRED"


async def test_a_key_without_the_export_scope_is_refused(
    client: httpx.AsyncClient, world: World, make_member: MemberFactory
) -> None:
    member = await make_member(world.tenant, scopes=frozenset({"stories:read"}))

    response = await client.get("/api/v1/export", headers=member.headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MISSING_SCOPE"


async def test_without_credentials_the_export_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/export")

    assert response.status_code == 401
