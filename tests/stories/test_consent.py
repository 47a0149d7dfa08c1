"""Consent records of living people named in a story."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import outbox_events
from tests.stories.conftest import Community, Sessions, StoryWriter


async def test_the_author_records_consent_and_updates_it(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story()
    headers = community.headers("author")

    created = await client.post(
        f"/api/v1/stories/{story['id']}/consents",
        json={"person_name": "Bob Neighbour", "contact": "bob@example.test"},
        headers=headers,
    )
    consent = created.json()
    granted = await client.patch(
        f"/api/v1/stories/{story['id']}/consents/{consent['id']}",
        json={"status": "granted"},
        headers=headers,
    )
    listed = await client.get(f"/api/v1/stories/{story['id']}/consents", headers=headers)

    assert created.status_code == 201, created.text
    assert (consent["status"], consent["decided_at"], consent["contact"]) == (
        "requested",
        None,
        "bob@example.test",
    )
    assert granted.status_code == 200
    assert granted.json()["status"] == "granted"
    assert granted.json()["decided_at"] is not None
    assert [c["id"] for c in listed.json()["data"]] == [consent["id"]]
    events = await outbox_events(owner_sessions, consent["id"])
    assert [(e.type, e.payload["status"]) for e in events] == [
        ("ConsentRecorded", "requested"),
        ("ConsentRecorded", "granted"),
    ]
    assert "Bob" not in str(events[0].payload)  # no living person's name in the event stream


@pytest.mark.parametrize("status", ["granted", "denied", "withdrawn"])
async def test_every_answer_is_recorded_with_its_date(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, status: str
) -> None:
    story = await write_story()

    response = await client.post(
        f"/api/v1/stories/{story['id']}/consents",
        json={"person_name": "Bob", "status": status},
        headers=community.headers("owner"),
    )

    assert response.status_code == 201
    assert response.json()["decided_at"] is not None


@pytest.mark.parametrize(
    ("name", "lists", "writes"),
    [("owner", 200, 201), ("editor", 200, 403), ("member", 403, 403), ("viewer", 403, 403)],
)
async def test_who_sees_and_records_consent(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    name: str,
    lists: int,
    writes: int,
) -> None:
    story = await write_story()

    listed = await client.get(
        f"/api/v1/stories/{story['id']}/consents", headers=community.headers(name)
    )
    written = await client.post(
        f"/api/v1/stories/{story['id']}/consents",
        json={"person_name": "Bob"},
        headers=community.headers(name),
    )

    assert (listed.status_code, written.status_code) == (lists, writes)


@pytest.mark.parametrize(
    "body",
    [
        {"person_name": ""},
        {"person_name": "x" * 201},
        {"person_name": "Bob", "status": "refused"},
        {"person_name": "Bob\x00"},
        {"person_name": "Bob", "contact": "x" * 321},
    ],
)
async def test_a_bad_consent_is_422(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, body: dict[str, str]
) -> None:
    story = await write_story()

    response = await client.post(
        f"/api/v1/stories/{story['id']}/consents", json=body, headers=community.headers("author")
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(("name", "expected"), [("owner", 200), ("editor", 403), ("member", 403)])
async def test_the_author_or_the_owner_changes_a_consent(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    name: str,
    expected: int,
) -> None:
    story = await write_story()
    consent = await client.post(
        f"/api/v1/stories/{story['id']}/consents",
        json={"person_name": "Bob"},
        headers=community.headers("author"),
    )

    response = await client.patch(
        f"/api/v1/stories/{story['id']}/consents/{consent.json()['id']}",
        json={"status": "denied", "note": "Asked to be left out"},
        headers=community.headers(name),
    )

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["status"] == "denied"
        assert response.json()["recorded_by"] == str(community.people[name].user_id)
