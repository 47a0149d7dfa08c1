"""The local blob store's tokens and files, without HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from mosaic.media.storage.local import BlobExists, BlobTooLarge, InvalidKey, LocalBlobStore
from mosaic.media.storage.tokens import BlobGrant, BlobOperation, BlobTokens, InvalidBlobToken


def _store(directory: Path, secret: str = "a secret of the tests") -> LocalBlobStore:  # noqa: S107
    return LocalBlobStore(
        directory=directory, tokens=BlobTokens.for_secret(secret), url_prefix="/blobs"
    )


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/../../b", "/absolute", "a//b", "a/./b"])
def test_a_key_never_leaves_the_directory(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidKey):
        _store(tmp_path).path_of(key)


async def test_a_token_opens_only_under_the_secret_that_signed_it(tmp_path: Path) -> None:
    url = await _store(tmp_path).presign_get(
        "t/m/original", content_type="image/png", expires_in=60
    )
    token = url.rsplit("/", 1)[1]

    grant = _store(tmp_path).grant(token, op=BlobOperation.GET)

    assert (grant.key, grant.content_type) == ("t/m/original", "image/png")
    with pytest.raises(InvalidBlobToken):
        _store(tmp_path, secret="another secret").grant(token, op=BlobOperation.GET)
    with pytest.raises(InvalidBlobToken):
        _store(tmp_path).grant(token, op=BlobOperation.PUT)


def test_an_expired_token_is_refused() -> None:
    tokens = BlobTokens.for_secret("s")
    token = tokens.issue(BlobGrant(BlobOperation.GET, "k", "image/png", expires_at=100))

    assert tokens.verify(token, op=BlobOperation.GET, now=99).key == "k"
    with pytest.raises(InvalidBlobToken):
        tokens.verify(token, op=BlobOperation.GET, now=100)
    with pytest.raises(InvalidBlobToken):
        tokens.verify(token + token, op=BlobOperation.GET, now=time.time())


async def test_an_upload_is_written_whole_once_and_never_beyond_its_size(tmp_path: Path) -> None:
    store = _store(tmp_path)

    with pytest.raises(BlobTooLarge):
        await store.receive("t/m/original", _chunks(b"abc", b"def"), max_bytes=5)
    assert await store.stat("t/m/original") is None
    assert [path async for path in anyio.Path(tmp_path).rglob("*.partial")] == []

    assert await store.receive("t/m/original", _chunks(b"abc", b"de"), max_bytes=5) == 5
    with pytest.raises(BlobExists):
        await store.receive("t/m/original", _chunks(b"x"), max_bytes=5)
    assert await store.read("t/m/original") == b"abcde"

    await store.put("t/m/original", b"new", content_type="image/png")  # derivatives replace
    assert [chunk async for chunk in store.stream("t/m/original")] == [b"new"]
    await store.delete("t/m/original")
    await store.delete("t/m/original")  # twice is fine
    assert await store.stat("t/m/original") is None
