"""Browser sessions: the cookie authenticates, CSRF guards unsafe methods, logout and
disabling revoke, expiry ends, each login rotates; CORS grants allowlisted origins only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.identity.session_service import hash_secret
from mosaic.models import AuditEvent, BrowserSession, PlatformRole
from tests.identity.conftest import (
    APP_ORIGIN,
    OWN_ORIGIN,
    AccountFactory,
    ProviderUser,
    Sessions,
    browser_of,
    csrf_headers,
    login,
    oidc_application,
    sign_in_with_provider,
)

MakeProviderUser = Callable[..., Awaitable[ProviderUser]]


async def _signed_in(browser: httpx.AsyncClient, provider_user: MakeProviderUser) -> str:
    """Sign ``browser`` in; the session cookie's value."""
    response = await sign_in_with_provider(browser, await provider_user())
    assert response.status_code == 303, response.text
    return browser.cookies["mosaic_session"]


async def _session_row(sessions: Sessions, cookie: str) -> BrowserSession:
    async with sessions() as session:
        found = await session.execute(
            select(BrowserSession).where(BrowserSession.session_hash == hash_secret(cookie))
        )
        return found.scalar_one()


async def _csrf_denials(sessions: Sessions, user_id: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEvent)
            .where(AuditEvent.subject == "csrf", AuditEvent.actor == f"user:{user_id}")
            .order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def test_the_session_row_holds_hashes_the_tenant_and_a_week(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    cookie = await _signed_in(browser, provider_user)

    row = await _session_row(owner_sessions, cookie)

    assert row.session_hash == hash_secret(cookie) != cookie
    assert row.csrf_hash == hash_secret(browser.cookies["mosaic_csrf"])
    assert row.provider == "mock"
    assert row.expires_at - row.created_at == timedelta(days=7)
    me = (await browser.get("/api/v1/me")).json()
    assert str(row.user_id) == me["id"]
    assert str(row.tenant_id) == (await browser.get("/api/v1/tenant")).json()["id"]


async def test_an_unsafe_cookie_request_without_the_csrf_token_is_refused_and_audited(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    await _signed_in(browser, provider_user)
    user_id = (await browser.get("/api/v1/me")).json()["id"]

    response = await browser.patch(
        "/api/v1/me", json={"display_name": "Mallory"}, headers={"Origin": OWN_ORIGIN}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CSRF_FAILED"
    assert (await browser.get("/api/v1/me")).json()["display_name"] == "Ada Lovelace"
    denials = await _csrf_denials(owner_sessions, user_id)
    assert [(event.action, event.reason) for event in denials] == [
        ("access_denied", "token_missing")
    ]


async def test_a_wrong_csrf_token_is_refused(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    await _signed_in(browser, provider_user)

    response = await browser.patch(
        "/api/v1/me",
        json={"display_name": "Mallory"},
        headers={"Origin": OWN_ORIGIN, "X-CSRF-Token": "guessed"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CSRF_FAILED"


async def test_a_foreign_origin_is_refused_even_with_the_token(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    await _signed_in(browser, provider_user)
    user_id = (await browser.get("/api/v1/me")).json()["id"]

    foreign = await browser.patch(
        "/api/v1/me",
        json={"display_name": "Mallory"},
        headers=csrf_headers(browser, origin="https://evil.example"),
    )
    no_origin = await browser.patch(
        "/api/v1/me",
        json={"display_name": "Mallory"},
        headers={"X-CSRF-Token": browser.cookies["mosaic_csrf"]},
    )

    assert foreign.status_code == no_origin.status_code == 403
    reasons = [event.reason for event in await _csrf_denials(owner_sessions, user_id)]
    assert reasons == ["origin_not_allowed", "origin_missing"]


async def test_the_token_from_an_allowed_origin_passes(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    await _signed_in(browser, provider_user)

    own = await browser.patch(
        "/api/v1/me", json={"display_name": "Ada"}, headers=csrf_headers(browser)
    )
    web_app = await browser.patch(
        "/api/v1/me", json={"display_name": "Ada L."}, headers=csrf_headers(browser, APP_ORIGIN)
    )
    by_referer = await browser.patch(
        "/api/v1/me",
        json={"display_name": "Countess"},
        headers={
            "Referer": f"{APP_ORIGIN}/settings",
            "X-CSRF-Token": browser.cookies["mosaic_csrf"],
        },
    )

    assert own.status_code == web_app.status_code == by_referer.status_code == 200
    assert by_referer.json()["display_name"] == "Countess"


async def test_a_bearer_request_needs_no_csrf_token(
    browser: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    token = (await login(browser, account.email, account.password)).json()["access_token"]

    response = await browser.patch(
        "/api/v1/me",
        json={"display_name": "Program"},
        headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"},
    )

    assert response.status_code == 200


async def test_logout_revokes_the_session_and_clears_the_cookies(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    cookie = await _signed_in(browser, provider_user)

    response = await browser.post("/auth/logout", headers=csrf_headers(browser))

    assert response.status_code == 204
    cleared = " ".join(response.headers.get_list("set-cookie"))
    assert 'mosaic_session=""' in cleared
    assert 'mosaic_csrf=""' in cleared
    assert (await _session_row(owner_sessions, cookie)).revoked_at is not None
    replayed = await browser.get("/api/v1/me", headers={"Cookie": f"mosaic_session={cookie}"})
    assert replayed.status_code == 401


async def test_logout_from_a_foreign_page_is_refused(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    await _signed_in(browser, provider_user)

    response = await browser.post("/auth/logout", headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CSRF_FAILED"
    assert (await browser.get("/api/v1/me")).status_code == 200


async def test_logout_without_a_session_still_answers_204(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/auth/logout")

    assert response.status_code == 204


async def test_an_expired_session_is_401(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    cookie = await _signed_in(browser, provider_user)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(BrowserSession)
            .where(BrowserSession.session_hash == hash_secret(cookie))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await browser.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def test_an_unknown_cookie_is_401(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/api/v1/me", headers={"Cookie": "mosaic_session=made-up"})

    assert response.status_code == 401


async def test_each_login_rotates_the_session(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    user = await provider_user()
    await sign_in_with_provider(browser, user)
    first = browser.cookies["mosaic_session"]

    await sign_in_with_provider(browser, user)

    second = browser.cookies["mosaic_session"]
    assert second != first
    assert (await _session_row(owner_sessions, first)).revoked_at is not None
    assert (
        await browser.get("/api/v1/me", headers={"Cookie": f"mosaic_session={first}"})
    ).status_code == 401
    assert (await browser.get("/api/v1/me")).status_code == 200


async def test_disabling_a_user_revokes_their_sessions(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    provider_user: MakeProviderUser,
    make_account: AccountFactory,
    owner_sessions: Sessions,
) -> None:
    cookie = await _signed_in(browser, provider_user)
    user_id = (await browser.get("/api/v1/me")).json()["id"]
    admin = await make_account(role=PlatformRole.ADMIN)
    token = (await login(client, admin.email, admin.password)).json()["access_token"]

    disabled = await client.delete(
        f"/api/v1/users/{user_id}", headers={"Authorization": f"Bearer {token}"}
    )

    assert disabled.status_code == 204
    assert (await _session_row(owner_sessions, cookie)).revoked_at is not None
    assert (await browser.get("/api/v1/me")).status_code == 401


async def test_cors_grants_credentials_and_the_csrf_header_to_the_web_app_only(
    browser: httpx.AsyncClient,
) -> None:
    preflight = {
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type,x-csrf-token",
    }

    allowed = await browser.options("/api/v1/me", headers={"Origin": APP_ORIGIN, **preflight})
    foreign = await browser.options(
        "/api/v1/me", headers={"Origin": "https://evil.example", **preflight}
    )
    simple = await browser.get("/api/v1/me", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_a_cookie_domain_shares_the_cookies_with_sibling_hosts(
    settings: Settings,
    location: DatabaseLocation,
    oidc_issuer: str,
    provider_user: MakeProviderUser,
) -> None:
    async with (
        oidc_application(
            settings, location, oidc_issuer, session_cookie_domain="example.test"
        ) as app,
        browser_of(app) as browser,
    ):
        response = await sign_in_with_provider(browser, await provider_user())

    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("domain=example.test" in cookie.lower() for cookie in cookies)
