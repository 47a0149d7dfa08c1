"""Password hashing and policy (argon2id)."""

from __future__ import annotations

import pytest

from mosaic.core.settings import IdentitySettings
from mosaic.identity.passwords import PasswordPolicyViolation, Passwords

EMAIL = "ada.lovelace@example.com"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords.from_settings(IdentitySettings(argon2_time_cost=1, argon2_memory_kib=8192))


async def test_a_hash_is_argon2id_with_the_configured_cost(passwords: Passwords) -> None:
    hashed = await passwords.hash("a long enough passphrase")

    assert hashed.startswith("$argon2id$v=19$m=8192,t=1,p=1$")


async def test_the_right_password_matches(passwords: Passwords) -> None:
    hashed = await passwords.hash("a long enough passphrase")

    check = await passwords.verify(hashed, "a long enough passphrase")

    assert check.matches
    assert not check.needs_rehash


async def test_a_wrong_password_does_not_match(passwords: Passwords) -> None:
    hashed = await passwords.hash("a long enough passphrase")

    assert not (await passwords.verify(hashed, "a long enough passphrasE")).matches


async def test_no_stored_hash_never_matches(passwords: Passwords) -> None:
    assert not (await passwords.verify(None, "anything at all here")).matches


async def test_a_corrupt_stored_hash_does_not_match(passwords: Passwords) -> None:
    assert not (await passwords.verify("$argon2id$garbage", "anything at all here")).matches


async def test_an_oversized_password_never_matches(passwords: Passwords) -> None:
    long = "x" * 300
    hashed = passwords.hasher.hash(long)

    assert not (await passwords.verify(hashed, long)).matches


async def test_a_hash_with_other_parameters_needs_a_rehash(passwords: Passwords) -> None:
    stronger = Passwords.from_settings(IdentitySettings(argon2_time_cost=2, argon2_memory_kib=8192))
    hashed = await stronger.hash("a long enough passphrase")

    check = await passwords.verify(hashed, "a long enough passphrase")

    assert check.matches
    assert check.needs_rehash


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("short", id="too short"),
        pytest.param("x" * 257, id="too long"),
        pytest.param(" " * 20, id="blank"),
        pytest.param(EMAIL, id="the email"),
        pytest.param(EMAIL.upper(), id="the email in capitals"),
        pytest.param("ada.lovelace", id="the email's local part"),
        pytest.param("abababababababab", id="two characters repeated"),
    ],
)
def test_the_policy_refuses(passwords: Passwords, password: str) -> None:
    with pytest.raises(PasswordPolicyViolation):
        passwords.check_policy(password, email=EMAIL)


def test_the_policy_accepts_a_passphrase(passwords: Passwords) -> None:
    passwords.check_policy("correct horse battery staple", email=EMAIL)
