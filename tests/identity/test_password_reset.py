"""Password reset: a mailed single-use link, no user enumeration, sign-out everywhere."""

from __future__ import annotations

import asyncio
import email
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Select, select, update
from structlog.testing import capture_logs

from mosaic.core.ids import new_id
from mosaic.identity.password_reset import hash_reset_token
from mosaic.models import AuditEvent, BrowserSession, PasswordResetToken, User, UserStatus
from tests.conftest import unique_client_address
from tests.identity.conftest import (
    PASSWORD,
    AccountFactory,
    AppClientFactory,
    Sessions,
    audit_events_of,
    identity_of,
    login,
)
from tests.mailers import BrokenMailer, CommitCheckingMailer

REQUEST = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase"
PUBLIC_URL = "https://mosaic.example.test"


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
async def client(client_with: AppClientFactory, mail_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose folder mailer writes into this test's ``mail_dir``."""
    async with client_with(
        mail={"mail_dir": str(mail_dir)}, server={"public_url": PUBLIC_URL}
    ) as client:
        yield client


def _mails(mail_dir: Path) -> list[email.message.Message]:
    if not mail_dir.exists():
        return []
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(mail_dir.glob("*.eml"))]


def _token_of(message: email.message.Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(
        rf"{re.escape(PUBLIC_URL)}/reset-password\?token=([A-Za-z0-9_-]+)", body.decode()
    )
    assert found is not None, body
    return found.group(1)


async def _request(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post(REQUEST, json={"email": address})


async def _confirm(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(CONFIRM, json={"token": token, "new_password": password})


async def _mailed_token(client: httpx.AsyncClient, mail_dir: Path, address: str) -> str:
    response = await _request(client, address)
    assert response.status_code == 202, response.text
    return _token_of(_mails(mail_dir)[-1])


def _invalid(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "RESET_TOKEN_INVALID"


async def test_known_and_unknown_emails_get_identical_answers_and_only_one_mail(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()

    known = await _request(client, account.email)
    unknown = await _request(client, f"nobody-{uuid4().hex[:12]}@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    [mail] = _mails(mail_dir)
    assert mail["To"] == account.email
    assert mail["Subject"] == "Reset your Mosaic password"


async def test_the_mailed_token_resets_the_password(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)

    response = await _confirm(client, token)

    assert response.status_code == 204, response.text
    assert (await login(client, account.email, PASSWORD)).status_code == 401
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_the_token_is_stored_only_as_its_sha256_and_expires_in_30_minutes(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)

    async with owner_sessions() as session:
        [row] = (
            await session.execute(
                select(PasswordResetToken).where(PasswordResetToken.user_id == account.id)
            )
        ).scalars()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.expires_at - row.created_at == timedelta(minutes=30)
    assert len(token) >= 43  # 256 bits in base64url


async def test_a_token_works_once(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)
    assert (await _confirm(client, token)).status_code == 204

    _invalid(await _confirm(client, token, "yet another passphrase"))

    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_two_concurrent_confirms_with_one_token_succeed_once(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)

    answers = await asyncio.gather(
        _confirm(client, token, "first new passphrase"),
        _confirm(client, token, "second new passphrase"),
    )

    assert sorted(answer.status_code for answer in answers) == [204, 400]
    winner = "first new passphrase" if answers[0].status_code == 204 else "second new passphrase"
    assert (await login(client, account.email, winner)).status_code == 200


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == account.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    _invalid(await _confirm(client, token))

    assert (await login(client, account.email, PASSWORD)).status_code == 200


async def test_an_unknown_token_is_refused(client: httpx.AsyncClient) -> None:
    _invalid(await _confirm(client, "x" * 43))


async def test_a_new_request_invalidates_the_earlier_token(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    first = await _mailed_token(client, mail_dir, account.email)
    second = await _mailed_token(client, mail_dir, account.email)

    _invalid(await _confirm(client, first))
    assert (await _confirm(client, second)).status_code == 204


async def test_a_weak_password_is_422_and_the_token_stays_usable(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)

    weak = await _confirm(client, token, "short")

    assert weak.status_code == 422, weak.text
    error = weak.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"][0]["loc"] == ["body", "new_password"]
    assert (await _confirm(client, token)).status_code == 204


async def test_refresh_tokens_and_access_issued_before_the_reset_stop_working(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    before = (await login(client, account.email, PASSWORD)).json()
    token = await _mailed_token(client, mail_dir, account.email)

    assert (await _confirm(client, token)).status_code == 204

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": before["refresh_token"]}
    )
    assert refreshed.status_code == 401, refreshed.text
    events = await audit_events_of(owner_sessions, user_id=account.id)
    reset = [e for e in events if e.action == "password_reset"]
    assert [(e.outcome, e.details) for e in reset] == [
        ("success", {"refresh_tokens_revoked": 1, "browser_sessions_revoked": 0})
    ]


async def test_requests_and_failed_confirms_are_audited(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)
    await _confirm(client, token)
    await _confirm(client, token)

    events = await audit_events_of(owner_sessions, user_id=account.id)
    assert [(e.action, e.outcome, e.reason) for e in events] == [
        ("password_reset_requested", "success", None),
        ("password_reset", "success", None),
        ("password_reset", "failure", "token_used"),
    ]


async def test_an_unknown_email_is_not_audited(
    client: httpx.AsyncClient, owner_sessions: Sessions
) -> None:
    address = f"nobody-{uuid4().hex[:12]}@example.com"
    await _request(client, address)

    async with owner_sessions() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.subject == f"email:{address}")
        )
        assert list(rows.scalars()) == []


@pytest.mark.parametrize("kind", ["disabled", "no_password"])
async def test_disabled_and_passwordless_accounts_get_no_mail(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
    kind: str,
) -> None:
    if kind == "disabled":
        account = await make_account(status=UserStatus.DISABLED)
    else:
        account = await make_account()
        async with owner_sessions() as session, session.begin():
            await session.execute(
                update(User).where(User.id == account.id).values(password_hash=None)
            )
    unknown = await _request(client, f"nobody-{uuid4().hex[:12]}@example.com")

    response = await _request(client, account.email)

    assert response.status_code == 202
    assert response.content == unknown.content
    assert _mails(mail_dir) == []
    events = await audit_events_of(owner_sessions, user_id=account.id)
    reason = "account_disabled" if kind == "disabled" else "no_local_password"
    assert [(e.action, e.outcome, e.reason) for e in events] == [
        ("password_reset_requested", "ignored", reason)
    ]


async def test_requests_are_throttled_per_email(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    answers = [await _request(client, account.email) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[-1].headers["Retry-After"]) > 0


async def test_unknown_emails_are_throttled_alike(client: httpx.AsyncClient) -> None:
    address = f"nobody-{uuid4().hex[:12]}@example.com"
    answers = [await _request(client, address) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]


async def test_requests_are_throttled_per_ip(client_with: AppClientFactory, mail_dir: Path) -> None:
    async with client_with(
        mail={"mail_dir": str(mail_dir)}, identity={"password_reset_requests_per_ip": "2/hour"}
    ) as client:
        answers = [
            await _request(client, f"nobody-{uuid4().hex[:12]}@example.com") for _ in range(3)
        ]

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert "Retry-After" in answers[-1].headers


async def test_the_link_uses_the_request_origin_without_a_public_url(
    client_with: AppClientFactory, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    async with client_with(mail={"mail_dir": str(mail_dir)}) as client:
        await _request(client, account.email)

    [mail] = _mails(mail_dir)
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "http://testserver/reset-password?token=" in body.decode()


async def test_no_token_appears_in_the_logs(
    client: httpx.AsyncClient, make_account: AccountFactory, mail_dir: Path
) -> None:
    account = await make_account()
    with capture_logs() as logs:
        await _request(client, account.email)
        token = _token_of(_mails(mail_dir)[-1])
        await _confirm(client, token, "short")
        await _confirm(client, token)
        await _confirm(client, token)

    text: Any = repr(logs)
    assert token not in text
    assert account.email not in text
    assert any(entry["event"] == "password_reset_token_stored" for entry in logs)


async def test_browser_sessions_are_revoked_by_the_reset(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    now = datetime.now(UTC)
    async with owner_sessions() as session, session.begin():
        browser = BrowserSession(
            id=new_id(),
            session_hash=hashlib.sha256(uuid4().bytes).hexdigest(),
            user_id=account.id,
            tenant_id=account.tenant_id,
            csrf_hash=hashlib.sha256(uuid4().bytes).hexdigest(),
            provider="mock",
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
        session.add(browser)
    token = await _mailed_token(client, mail_dir, account.email)

    assert (await _confirm(client, token)).status_code == 204

    async with owner_sessions() as session:
        revoked = await session.get(BrowserSession, browser.id)
    assert revoked is not None
    assert revoked.revoked_at is not None


async def test_a_token_of_an_account_disabled_since_the_mail_is_refused(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    mail_dir: Path,
    owner_sessions: Sessions,
) -> None:
    account = await make_account()
    token = await _mailed_token(client, mail_dir, account.email)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.id == account.id).values(status=UserStatus.DISABLED)
        )

    _invalid(await _confirm(client, token))

    events = await audit_events_of(owner_sessions, user_id=account.id)
    assert (events[-1].action, events[-1].outcome, events[-1].reason) == (
        "password_reset",
        "failure",
        "account_disabled",
    )


def _stored(token: str) -> Select[UUID]:
    return select(PasswordResetToken.id).where(
        PasswordResetToken.token_hash == hash_reset_token(token)
    )


@pytest.mark.parametrize("broken", [False, True], ids=["mail sent", "mail server down"])
async def test_the_mail_leaves_after_the_token_is_committed_and_never_shows_in_the_answer(
    app: FastAPI,
    make_account: AccountFactory,
    owner_sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
    broken: bool,
) -> None:
    account = await make_account()
    checking = CommitCheckingMailer(owner_sessions, _stored)
    monkeypatch.setattr(identity_of(app), "mailer", BrokenMailer() if broken else checking)
    transport = httpx.ASGITransport(app=app, client=unique_client_address())

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await _request(client, account.email)

    assert answer.status_code == 202, answer.text
    assert checking.committed_when_sent == ([] if broken else [True])
