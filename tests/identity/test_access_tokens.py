"""Access tokens: what a valid one says, and every kind of bad one answered with 401."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from mosaic.identity import access_tokens
from tests.identity.conftest import Sessions, SignedIn, identity_of

ME = "/api/v1/auth/me"


def _claims(signed_in: SignedIn) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(signed_in.access_token, options={"verify_signature": False})
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _signer(app: FastAPI, owner_sessions: Sessions) -> tuple[str, Ed25519PrivateKey]:
    async with owner_sessions() as session:
        return await identity_of(app).keys.signer(session)


async def _forge(
    app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn, **changes: Any
) -> str:
    """Re-sign the user's claims with the real key, after ``changes`` (None deletes)."""
    kid, key = await _signer(app, owner_sessions)
    claims = {**_claims(signed_in), **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ME, headers={"Authorization": f"Bearer {token}"})


def _assert_rejected(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_access_token_carries_the_pinned_algorithm_and_claims(
    signed_in: SignedIn,
) -> None:
    header = jwt.get_unverified_header(signed_in.access_token)
    claims = _claims(signed_in)

    assert header["alg"] == "EdDSA"
    assert header["kid"]
    assert set(claims) == {"iss", "aud", "sub", "tid", "role", "iat", "nbf", "exp", "jti"}
    assert claims["sub"] == str(signed_in.account.id)
    assert claims["exp"] - claims["iat"] == 900


async def test_the_jwks_publishes_the_key_that_signed_the_token(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]

    kid = jwt.get_unverified_header(signed_in.access_token)["kid"]
    [jwk] = [key for key in keys if key["kid"] == kid]
    public_key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        signed_in.access_token, public_key, algorithms=["EdDSA"], audience="mosaic-api"
    )
    assert claims["sub"] == str(signed_in.account.id)
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}


async def test_a_valid_token_acts_in_its_tenant(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    response = await client.get("/api/v1/tenant", headers=signed_in.headers)

    assert response.status_code == 200
    assert response.json()["id"] == str(signed_in.account.tenant_id)


async def test_a_tampered_signature_is_401(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    head, body, signature = signed_in.access_token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    _assert_rejected(await _me(client, f"{head}.{body}.{flipped}"))


async def test_a_tampered_payload_is_401(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    head, _, signature = signed_in.access_token.split(".")
    claims = {**_claims(signed_in), "role": "admin"}
    body = _b64(json.dumps(claims).encode())

    _assert_rejected(await _me(client, f"{head}.{body}.{signature}"))


async def test_an_expired_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn
) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = await _forge(
        app, owner_sessions, signed_in, iat=now - 3600, nbf=now - 3600, exp=now - 60
    )

    _assert_rejected(await _me(client, token))


async def test_a_token_not_valid_yet_is_401(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn
) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = await _forge(app, owner_sessions, signed_in, nbf=now + 3600, exp=now + 4000)

    _assert_rejected(await _me(client, token))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("aud", "another-service", id="other audience"),
        pytest.param("iss", "https://evil.example", id="other issuer"),
        pytest.param("tid", None, id="no tenant claim"),
        pytest.param("jti", None, id="no jti"),
        pytest.param("sub", "not-a-uuid", id="subject not a uuid"),
    ],
)
async def test_a_token_with_wrong_or_missing_claims_is_401(
    client: httpx.AsyncClient,
    app: FastAPI,
    owner_sessions: Sessions,
    signed_in: SignedIn,
    claim: str,
    value: str | None,
) -> None:
    token = await _forge(app, owner_sessions, signed_in, **{claim: value})

    _assert_rejected(await _me(client, token))


async def test_a_correctly_forged_control_token_is_accepted(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn
) -> None:
    # The forging helper itself works: the rejections above are about the changed claims.
    token = await _forge(app, owner_sessions, signed_in)

    assert (await _me(client, token)).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("a.b.c", id="three garbage parts"),
        pytest.param("eyJhbGciOiJFZERTQSJ9..", id="empty payload and signature"),
        pytest.param("x" * 5000, id="huge"),
    ],
)
async def test_a_malformed_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    _assert_rejected(await _me(client, token))


async def test_alg_none_is_401(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(signed_in)).encode())

    _assert_rejected(await _me(client, f"{header}.{body}."))


async def test_an_hs256_token_keyed_with_the_public_key_is_401(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn
) -> None:
    kid, key = await _signer(app, owner_sessions)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(_claims(signed_in)).encode())

    for secret in (public_pem, raw):
        import hashlib
        import hmac

        signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        _assert_rejected(await _me(client, f"{header}.{body}.{_b64(signature)}"))


async def test_a_token_signed_by_an_unknown_key_is_401(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(_claims(signed_in), stranger, algorithm="EdDSA", headers={"kid": "nope"})

    _assert_rejected(await _me(client, token))


async def test_another_key_claiming_a_known_kid_is_401(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    kid = jwt.get_unverified_header(signed_in.access_token)["kid"]
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(_claims(signed_in), stranger, algorithm="EdDSA", headers={"kid": kid})

    _assert_rejected(await _me(client, token))


async def test_a_removed_members_token_stops_working(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions, app: FastAPI
) -> None:
    from sqlalchemy import delete

    from mosaic.models import TenantMembership

    async with owner_sessions() as session, session.begin():
        await session.execute(
            delete(TenantMembership).where(TenantMembership.user_id == signed_in.account.id)
        )
    identity_of(app).access_cache.forget(signed_in.account.id)

    _assert_rejected(await _me(client, signed_in.access_token))


ForgeFactory = Callable[..., str]


async def test_a_token_accepted_before_stops_working_when_it_expires(
    client: httpx.AsyncClient,
    app: FastAPI,
    owner_sessions: Sessions,
    signed_in: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Expired five seconds ago: accepted within the clock-skew leeway, and remembered.
    now = int(datetime.now(UTC).timestamp())
    token = await _forge(app, owner_sessions, signed_in, iat=now - 900, nbf=now - 900, exp=now - 5)
    assert (await _me(client, token)).status_code == 200

    monkeypatch.setattr(access_tokens, "LEEWAY_SECONDS", 0)

    _assert_rejected(await _me(client, token))


async def test_a_token_accepted_before_stops_working_when_its_key_is_gone(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, signed_in: SignedIn
) -> None:
    keys = identity_of(app).keys
    assert (await _me(client, signed_in.access_token)).status_code == 200

    keys.install([])  # as if the key had been retired past its grace and reloaded
    try:
        _assert_rejected(await _me(client, signed_in.access_token))
    finally:
        async with owner_sessions() as session:
            await keys.load(session)
