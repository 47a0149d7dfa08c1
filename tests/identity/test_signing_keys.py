"""Signing keys: stored encrypted, rotated without breaking tokens already issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import select, update

from mosaic.identity import signing_keys
from mosaic.identity.signing_keys import KeyRing, decrypt_private_key, encrypt_private_key
from mosaic.models import SigningKey
from tests.identity.conftest import Sessions, SignInFactory, identity_of


def test_a_private_key_round_trips_through_its_encryption() -> None:
    key = Ed25519PrivateKey.generate()
    sealed = encrypt_private_key("secret", kid="k1", private_key=key)

    opened = decrypt_private_key("secret", kid="k1", encrypted=sealed)

    assert opened.public_key() == key.public_key()


def test_a_private_key_does_not_open_under_another_secret() -> None:
    sealed = encrypt_private_key("secret", kid="k1", private_key=Ed25519PrivateKey.generate())

    with pytest.raises(InvalidTag):
        decrypt_private_key("another secret", kid="k1", encrypted=sealed)


def test_a_sealed_private_key_cannot_be_moved_to_another_kid() -> None:
    sealed = encrypt_private_key("secret", kid="k1", private_key=Ed25519PrivateKey.generate())

    with pytest.raises(InvalidTag):
        decrypt_private_key("secret", kid="k2", encrypted=sealed)


async def test_rotation_signs_with_a_new_key_and_old_tokens_keep_working(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, sign_in: SignInFactory
) -> None:
    before = await sign_in()
    secret = identity_of(app).keys.secret_key
    async with owner_sessions() as session, session.begin():
        new_key = await signing_keys.rotate_signing_keys(session, secret_key=secret)
    # Another process's ring (this one re-reads keys only every minute before signing).
    ring = KeyRing(secret_key=secret)
    async with owner_sessions() as session:
        kid, _ = await ring.signer(session)

    me = await client.get("/api/v1/me", headers=before.headers)

    assert kid == new_key.kid
    assert jwt.get_unverified_header(before.access_token)["kid"] != new_key.kid
    assert me.status_code == 200


async def test_a_token_signed_by_a_key_unknown_at_start_is_verified_after_a_reload(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, sign_in: SignInFactory
) -> None:
    signed_in = await sign_in()
    secret = identity_of(app).keys.secret_key
    async with owner_sessions() as session, session.begin():
        new_key = await signing_keys.rotate_signing_keys(session, secret_key=secret)
    private = decrypt_private_key(secret, kid=new_key.kid, encrypted=new_key.private_key_encrypted)
    claims = jwt.decode(signed_in.access_token, options={"verify_signature": False})
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": new_key.kid})
    identity_of(app).keys._loaded_at = float("-inf")  # as if the last reload were long ago

    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


async def test_a_key_retired_longer_than_the_grace_stops_verifying(
    client: httpx.AsyncClient, app: FastAPI, owner_sessions: Sessions, sign_in: SignInFactory
) -> None:
    signed_in = await sign_in()
    kid = jwt.get_unverified_header(signed_in.access_token)["kid"]
    secret = identity_of(app).keys.secret_key
    async with owner_sessions() as session, session.begin():
        await signing_keys.rotate_signing_keys(session, secret_key=secret)
        long_ago = datetime.now(UTC) - signing_keys.VERIFY_GRACE - timedelta(seconds=1)
        await session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(retired_at=long_ago)
        )
    async with owner_sessions() as session:
        await identity_of(app).keys.load(session)

    response = await client.get("/api/v1/me", headers=signed_in.headers)

    assert response.status_code == 401


async def test_rotation_deletes_keys_retired_longer_than_the_grace(
    app: FastAPI, owner_sessions: Sessions
) -> None:
    secret = identity_of(app).keys.secret_key
    async with owner_sessions() as session, session.begin():
        old = await signing_keys.rotate_signing_keys(session, secret_key=secret)
        await signing_keys.rotate_signing_keys(session, secret_key=secret)
        long_ago = datetime.now(UTC) - signing_keys.VERIFY_GRACE - timedelta(seconds=1)
        await session.execute(
            update(SigningKey).where(SigningKey.kid == old.kid).values(retired_at=long_ago)
        )
        await signing_keys.rotate_signing_keys(session, secret_key=secret)
        remaining = (await session.execute(select(SigningKey.kid))).scalars().all()

    assert old.kid not in remaining
    async with owner_sessions() as session:
        await identity_of(app).keys.load(session)


async def test_the_stored_key_is_not_the_raw_private_key(
    app: FastAPI, owner_sessions: Sessions
) -> None:
    async with owner_sessions() as session:
        kid, private = await identity_of(app).keys.signer(session)
        row = await session.get(SigningKey, kid)

    from cryptography.hazmat.primitives import serialization

    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    assert row is not None
    assert raw not in row.private_key_encrypted
