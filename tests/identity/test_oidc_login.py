"""Signing in with OpenID Connect against a real provider process: discovery, PKCE, the code
exchange, ID-token validation, account linking and the session cookie."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select, update

from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.identity.oidc_client import code_challenge
from mosaic.models import OidcLogin, UserIdentity
from tests.identity.conftest import (
    OIDC_CLIENT_ID,
    AccountFactory,
    ProviderUser,
    Sessions,
    audit_events,
    authorize_at_provider,
    browser_of,
    login,
    oidc_application,
    sign_in_with_provider,
    start_login,
)

MakeProviderUser = Callable[..., Awaitable[ProviderUser]]


async def test_signing_in_creates_a_user_and_a_session_cookie(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    user = await provider_user()

    response = await sign_in_with_provider(browser, user)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookies = {
        header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")
    }
    session_cookie = cookies["mosaic_session"].lower()
    assert "httponly" in session_cookie
    assert "secure" in session_cookie
    assert "samesite=lax" in session_cookie
    assert "path=/" in session_cookie
    assert "httponly" not in cookies["mosaic_csrf"].lower()
    me = await browser.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == user.email
    assert me.json()["display_name"] == "Ada Lovelace"
    tenant = await browser.get("/api/v1/tenant")
    assert tenant.json()["slug"] == "default"


async def test_the_authorization_request_carries_state_nonce_and_an_s256_challenge(
    browser: httpx.AsyncClient, owner_sessions: Sessions, oidc_issuer: str
) -> None:
    url = await start_login(browser)

    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{oidc_issuer}/oauth2/authorize?")
    assert query["client_id"] == OIDC_CLIENT_ID
    assert query["redirect_uri"] == "https://testserver/auth/mock/callback"
    assert query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    state_hash = hashlib.sha256(query["state"].encode()).hexdigest()
    async with owner_sessions() as session:
        stored = await session.get(OidcLogin, state_hash)
    assert stored is not None  # only the state's hash is stored
    assert stored.nonce == query["nonce"]
    assert code_challenge(stored.code_verifier) == query["code_challenge"]
    assert stored.expires_at - stored.created_at == timedelta(minutes=10)


async def test_the_same_subject_signs_in_to_the_same_user(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    user = await provider_user()
    await sign_in_with_provider(browser, user)
    first = (await browser.get("/api/v1/me")).json()["id"]

    await sign_in_with_provider(browser, user)

    assert (await browser.get("/api/v1/me")).json()["id"] == first
    identities = (await browser.get("/api/v1/me/identities")).json()["data"]
    assert [(i["provider"], i["subject"]) for i in identities] == [("mock", user.sub)]


async def test_a_state_works_only_once(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    user = await provider_user()
    callback = await authorize_at_provider(await start_login(browser), sub=user.sub)
    assert (await browser.get(callback)).status_code == 303

    replayed = await browser.get(callback)

    assert replayed.status_code == 400
    assert replayed.json()["error"]["code"] == "OIDC_STATE_INVALID"
    events = await audit_events(owner_sessions, subject="oidc:mock")
    assert events[-1].action == "login_failed"
    assert events[-1].reason == "state_unknown_or_used"


async def test_a_failed_callback_still_spends_its_state(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    user = await provider_user()
    callback = await authorize_at_provider(await start_login(browser), sub=user.sub)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    bad_code = await browser.get("/auth/mock/callback", params={"state": state, "code": "forged"})
    assert bad_code.json()["error"]["code"] == "OIDC_CODE_REJECTED"

    retried = await browser.get(callback)

    assert retried.json()["error"]["code"] == "OIDC_STATE_INVALID"


async def test_an_unknown_provider_is_404(browser: httpx.AsyncClient) -> None:
    for path in ("/auth/nope/login", "/auth/nope/callback?state=x&code=y"):
        response = await browser.get(path)

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "OIDC_PROVIDER_NOT_FOUND"


async def test_access_denied_at_the_provider_is_refused_and_audited(
    browser: httpx.AsyncClient, owner_sessions: Sessions
) -> None:
    callback = await authorize_at_provider(await start_login(browser), sub=None)
    assert "error=access_denied" in callback

    response = await browser.get(callback)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "OIDC_ACCESS_DENIED"
    assert "mosaic_session" not in response.cookies
    events = await audit_events(owner_sessions, subject="oidc:mock")
    assert events[-1].reason == "provider_error:access_denied"


async def test_an_id_token_with_another_nonce_is_refused(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    user = await provider_user()
    url = await start_login(browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    # The provider echoes the nonce it was sent; the login now expects another one, as if the
    # ID token had been minted for a different login (a replayed or injected token).
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(OidcLogin)
            .where(OidcLogin.state_hash == hashlib.sha256(state.encode()).hexdigest())
            .values(nonce="a-different-nonce")
        )
    callback = await authorize_at_provider(url, sub=user.sub)

    response = await browser.get(callback)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "OIDC_ID_TOKEN_INVALID"
    events = await audit_events(owner_sessions, subject="oidc:mock")
    assert events[-1].reason == "id_token_invalid:nonce"


async def test_an_expired_login_is_refused(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    user = await provider_user()
    url = await start_login(browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(OidcLogin)
            .where(OidcLogin.state_hash == hashlib.sha256(state.encode()).hexdigest())
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await browser.get(await authorize_at_provider(url, sub=user.sub))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "OIDC_STATE_INVALID"


async def test_return_to_accepts_paths_and_allowed_origins_only(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser
) -> None:
    user = await provider_user()
    cases = {
        "/stories/42?tab=media": "/stories/42?tab=media",
        "https://app.example.test/home": "https://app.example.test/home",
        "https://evil.example/steal": "/",
        "//evil.example/steal": "/",
        "/\\evil.example": "/",
        "javascript:alert(1)": "/",
    }
    for asked, expected in cases.items():
        response = await sign_in_with_provider(browser, user, return_to=asked)

        assert response.headers["location"] == expected, asked


async def test_a_verified_email_links_to_the_existing_local_account(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    provider_user: MakeProviderUser,
    make_account: AccountFactory,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    user = await provider_user(email=account.email.upper(), email_verified=True)

    response = await sign_in_with_provider(browser, user)

    assert response.status_code == 303
    assert (await browser.get("/api/v1/me")).json()["id"] == str(account.id)
    async with owner_sessions() as session:
        identity = (
            await session.execute(select(UserIdentity).where(UserIdentity.subject == user.sub))
        ).scalar_one()
    assert identity.user_id == account.id
    linked = await audit_events(owner_sessions, subject=f"identity:{identity.id}")
    assert [event.action for event in linked] == ["identity_linked"]
    # Nobody had proved owning the address before: the password set on it stops working.
    assert linked[0].details["password_removed"] is True
    assert (await login(client, account.email, account.password)).status_code == 401


async def test_an_unverified_email_never_links(
    browser: httpx.AsyncClient,
    provider_user: MakeProviderUser,
    make_account: AccountFactory,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    user = await provider_user(email=account.email, email_verified=False)

    response = await sign_in_with_provider(browser, user)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "OIDC_EMAIL_IN_USE"
    assert "mosaic_session" not in browser.cookies
    async with owner_sessions() as session:
        found = await session.execute(select(UserIdentity).where(UserIdentity.subject == user.sub))
    assert found.first() is None
    events = await audit_events(owner_sessions, subject=f"oidc:mock:{user.sub}")
    assert events[-1].reason == "email_unverified"
    assert events[-1].actor_user_id == account.id


async def test_identities_are_listed_and_unlinked_but_never_the_last_way_in(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, owner_sessions: Sessions
) -> None:
    first = await provider_user()
    second = await provider_user(email=first.email)  # verified: links to the same user
    await sign_in_with_provider(browser, first)
    await sign_in_with_provider(browser, second)
    identities = (await browser.get("/api/v1/me/identities")).json()["data"]
    assert {identity["subject"] for identity in identities} == {first.sub, second.sub}
    headers = {"Origin": "https://testserver", "X-CSRF-Token": browser.cookies["mosaic_csrf"]}

    linked, created = sorted(identities, key=lambda identity: identity["subject"] != second.sub)

    removed = await browser.delete(f"/api/v1/me/identities/{linked['id']}", headers=headers)
    last = await browser.delete(f"/api/v1/me/identities/{created['id']}", headers=headers)

    assert removed.status_code == 204
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "LAST_SIGN_IN_METHOD"
    remaining = (await browser.get("/api/v1/me/identities")).json()["data"]
    assert [identity["id"] for identity in remaining] == [created["id"]]
    events = await audit_events(owner_sessions, subject=f"identity:{linked['id']}")
    assert [event.action for event in events] == ["identity_linked", "identity_unlinked"]


async def test_an_account_with_a_password_may_unlink_its_only_identity(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    provider_user: MakeProviderUser,
    make_account: AccountFactory,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    async with owner_sessions() as session, session.begin():
        from mosaic.models import User

        await session.execute(update(User).where(User.id == account.id).values(email_verified=True))
    await sign_in_with_provider(browser, await provider_user(email=account.email))
    token = (await login(client, account.email, account.password)).json()["access_token"]
    identities = (await browser.get("/api/v1/me/identities")).json()["data"]

    # A bearer token: no CSRF token needed, no cookie involved.
    response = await client.delete(
        f"/api/v1/me/identities/{identities[0]['id']}",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 204


async def test_someone_elses_identity_is_not_found(
    browser: httpx.AsyncClient, provider_user: MakeProviderUser, oidc_app: object
) -> None:
    await sign_in_with_provider(browser, await provider_user())
    mine = (await browser.get("/api/v1/me/identities")).json()["data"][0]["id"]
    other = httpx.AsyncClient(transport=browser._transport, base_url="https://testserver")
    async with other:
        await sign_in_with_provider(other, await provider_user())
        headers = {"Origin": "https://testserver", "X-CSRF-Token": other.cookies["mosaic_csrf"]}

        response = await other.delete(f"/api/v1/me/identities/{mine}", headers=headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "IDENTITY_NOT_FOUND"


async def test_invite_only_keeps_the_new_account_but_signs_no_one_in(
    settings: Settings,
    location: DatabaseLocation,
    oidc_issuer: str,
    provider_user: MakeProviderUser,
    owner_sessions: Sessions,
) -> None:
    user = await provider_user()
    async with (
        oidc_application(settings, location, oidc_issuer, registration_mode="invite_only") as app,
        browser_of(app) as browser,
    ):
        response = await sign_in_with_provider(browser, user)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NO_TENANT_ACCESS"
    assert "mosaic_session" not in browser.cookies
    events = await audit_events(owner_sessions, subject=f"oidc:mock:{user.sub}")
    assert events[-1].reason == "no_membership"
    async with owner_sessions() as session:
        identity = (
            await session.execute(select(UserIdentity).where(UserIdentity.subject == user.sub))
        ).scalar_one()  # the account exists, for an invitation to find
    assert events[-1].actor_user_id == identity.user_id


async def test_own_tenant_registration_gives_the_new_user_a_tenant(
    settings: Settings,
    location: DatabaseLocation,
    oidc_issuer: str,
    provider_user: MakeProviderUser,
) -> None:
    async with (
        oidc_application(settings, location, oidc_issuer, registration_mode="own_tenant") as app,
        browser_of(app) as browser,
    ):
        await sign_in_with_provider(browser, await provider_user())
        tenant = (await browser.get("/api/v1/tenant")).json()
        me = (await browser.get("/api/v1/me")).json()

    assert tenant["slug"] == f"u-{me['id'].replace('-', '')[-12:]}"
