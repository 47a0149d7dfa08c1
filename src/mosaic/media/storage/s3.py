"""The S3 blob store: presigned URLs straight to the bucket, so media bytes never pass through
Mosaic's API processes except when registering and processing them.

Works with AWS and with anything speaking the S3 API at ``endpoint_url`` (MinIO; moto's
server in the tests, since AWS itself cannot be reached from CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from mosaic.media.storage.port import BlobStat, PresignedUpload

_CHUNK_BYTES = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3BlobStore:
    session: aioboto3.Session
    bucket: str
    endpoint_url: str | None = None
    backend: str = "s3"

    @classmethod
    def connect(
        cls,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3BlobStore:
        session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        return cls(session=session, bucket=bucket, endpoint_url=endpoint_url)

    def _client(self) -> AbstractAsyncContextManager[Any]:
        # Path-style addressing when an endpoint is given: MinIO and moto serve no bucket
        # subdomains. Signature V4 everywhere (every region accepts it).
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        client: AbstractAsyncContextManager[Any] = self.session.client(
            "s3", endpoint_url=self.endpoint_url, config=config
        )
        return client

    async def presign_put(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: int
    ) -> PresignedUpload:
        async with self._client() as s3:
            # Content-Type and Content-Length are signed: S3 itself refuses an upload of
            # another type or of any other size than the declared one.
            url: str = await s3.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": size_bytes,
                },
                ExpiresIn=expires_in,
            )
        return PresignedUpload(url=url, method="PUT", headers={"Content-Type": content_type})

    async def presign_get(self, key: str, *, content_type: str, expires_in: int) -> str:
        async with self._client() as s3:
            url: str = await s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type},
                ExpiresIn=expires_in,
            )
        return url

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        async with self._client() as s3:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async with self._client() as s3:
            try:
                response = await s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if _is_missing(error):
                    raise FileNotFoundError(key) from error
                raise
            body = response["Body"]
            # Entering the body yields the raw HTTP response: read through the body itself,
            # which checks the length S3 announced.
            async with body:
                while chunk := await body.read(_CHUNK_BYTES):
                    yield chunk

    async def stat(self, key: str) -> BlobStat | None:
        async with self._client() as s3:
            try:
                head = await s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return BlobStat(size_bytes=int(head["ContentLength"]))

    async def delete(self, key: str) -> None:
        async with self._client() as s3:
            # S3 answers 204 for a key that is not there: deleting twice is fine.
            await s3.delete_object(Bucket=self.bucket, Key=key)


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING
