"""Sealed values open only with the same secret, purpose and binding, and reveal nothing."""

from __future__ import annotations

import pytest

from mosaic.core.sealing import SealBroken, Sealer

SECRET = "s" * 40


def test_a_sealed_value_opens_with_the_same_binding() -> None:
    sealer = Sealer.for_secret(SECRET, "test/v1")

    sealed = sealer.seal(b"the answer", bound_to=b"row-1")

    assert b"the answer" not in sealed
    assert sealer.open(sealed, bound_to=b"row-1") == b"the answer"


@pytest.mark.parametrize(
    ("secret", "purpose", "binding"),
    [
        ("t" * 40, "test/v1", b"row-1"),
        (SECRET, "other/v1", b"row-1"),
        (SECRET, "test/v1", b"row-2"),
    ],
)
def test_another_secret_purpose_or_binding_cannot_open_it(
    secret: str, purpose: str, binding: bytes
) -> None:
    sealed = Sealer.for_secret(SECRET, "test/v1").seal(b"the answer", bound_to=b"row-1")

    with pytest.raises(SealBroken):
        Sealer.for_secret(secret, purpose).open(sealed, bound_to=binding)


def test_an_altered_value_does_not_open() -> None:
    sealer = Sealer.for_secret(SECRET, "test/v1")
    sealed = bytearray(sealer.seal(b"the answer", bound_to=b"row-1"))
    sealed[-1] ^= 1

    with pytest.raises(SealBroken):
        sealer.open(bytes(sealed), bound_to=b"row-1")


def test_sealing_twice_gives_different_ciphertexts() -> None:
    sealer = Sealer.for_secret(SECRET, "test/v1")

    assert sealer.seal(b"same", bound_to=b"x") != sealer.seal(b"same", bound_to=b"x")
