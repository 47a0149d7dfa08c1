"""The legacies routes appear in the OpenAPI document with their error responses."""

from __future__ import annotations

import httpx


async def test_the_legacies_routes_are_documented(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/legacies",
        "/api/v1/legacies/search",
        "/api/v1/legacies/{reference}",
        "/api/v1/legacies/{legacy_id}",
        "/api/v1/legacies/{legacy_id}/join",
        "/api/v1/legacies/{legacy_id}/leave",
        "/api/v1/legacies/{legacy_id}/members",
        "/api/v1/legacies/{legacy_id}/members/{user_id}",
        "/api/v1/legacies/{legacy_id}/members/{user_id}/approve",
        "/api/v1/legacies/{legacy_id}/invitations",
        "/api/v1/legacies/{legacy_id}/invitations/{invitation_id}",
        "/api/v1/legacy-invitations/accept",
    } <= set(paths)
    assert "412" in paths["/api/v1/legacies/{legacy_id}"]["patch"]["responses"]
    assert "409" in paths["/api/v1/legacies/{legacy_id}/leave"]["post"]["responses"]
