"""Fixtures of the media tests: legacies with members, images, an upload helper, and an S3
endpoint (moto's server in a process of its own: AWS cannot be reached from the tests)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aioboto3
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.ids import new_id
from mosaic.core.settings import MediaBackend, MediaSettings, Settings
from mosaic.models import Legacy, LegacyMember, MembershipState, ScopeRole
from tests.conftest import Member, MemberFactory, TenantWithKey, unique_client_address

S3_BUCKET = "mosaic-media-test"
S3_CREDENTIALS = {"media_s3_access_key_id": "testing", "media_s3_secret_access_key": "testing"}


def jpeg_bytes(size: tuple[int, int] = (64, 48), *, camera: str | None = "Fujifilm") -> bytes:
    """A real JPEG; with a camera make and model in its EXIF when ``camera`` is given."""
    image = Image.new("RGB", size, (40, 120, 200))
    out = io.BytesIO()
    exif = Image.Exif()
    if camera:
        exif[0x010F] = camera  # Make
        exif[0x0110] = "X100V"  # Model
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()


PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


LegacyFactory = Callable[..., Awaitable[UUID]]
JoinLegacy = Callable[..., Awaitable[None]]


@pytest.fixture
def make_legacy(owner_sessions: async_sessionmaker[AsyncSession]) -> LegacyFactory:
    """A legacy of ``tenant``."""

    async def make(tenant: TenantWithKey) -> UUID:
        legacy_id = new_id()
        async with owner_sessions() as session, session.begin():
            session.add(
                Legacy(
                    id=legacy_id,
                    tenant_id=tenant.id,
                    name="Ada",
                    slug=f"ada-{legacy_id.hex}",
                )
            )
        return legacy_id

    return make


@pytest.fixture
def join_legacy(owner_sessions: async_sessionmaker[AsyncSession]) -> JoinLegacy:
    """Make ``member`` a member of ``legacy_id`` in ``role``."""

    async def join(
        member: Member,
        legacy_id: UUID,
        role: ScopeRole,
        state: MembershipState = MembershipState.ACTIVE,
    ) -> None:
        async with owner_sessions() as session, session.begin():
            session.add(
                LegacyMember(
                    tenant_id=member.tenant_id,
                    legacy_id=legacy_id,
                    user_id=member.user_id,
                    role=role,
                    state=state,
                )
            )

    return join


@dataclass(frozen=True)
class Circle:
    """One legacy and the people around it, each acting with a key of their own."""

    tenant: TenantWithKey
    legacy_id: UUID
    owner: Member  # the legacy's owner
    contributor: Member  # uploads
    viewer: Member  # a legacy viewer
    outsider: Member  # a member of the tenant, not of the legacy


@pytest.fixture
async def circle(
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    make_member: MemberFactory,
    make_legacy: LegacyFactory,
    join_legacy: JoinLegacy,
) -> Circle:
    tenant = await make_tenant()
    legacy_id = await make_legacy(tenant)
    people = {}
    for name, role in (
        ("owner", ScopeRole.OWNER),
        ("contributor", ScopeRole.CONTRIBUTOR),
        ("viewer", ScopeRole.VIEWER),
    ):
        people[name] = await make_member(tenant, ScopeRole.CONTRIBUTOR)
        await join_legacy(people[name], legacy_id, role)
    outsider = await make_member(tenant, ScopeRole.CONTRIBUTOR)
    return Circle(tenant=tenant, legacy_id=legacy_id, outsider=outsider, **people)


@dataclass
class Uploads:
    """The three steps of an upload over HTTP: presign, send the bytes, register."""

    client: httpx.AsyncClient
    # Where upload URLs are sent: the app itself (local store) or moto's server (S3).
    transfer: httpx.AsyncClient

    async def presign(
        self,
        member: Member,
        legacy_id: UUID,
        *,
        size: int,
        content_type: str = "image/jpeg",
        filename: str = "photo.jpg",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            "/api/v1/media/presign",
            json={
                "legacy_id": str(legacy_id),
                "filename": filename,
                "content_type": content_type,
                "size_bytes": size,
            },
            headers={**member.headers, **(headers or {})},
        )

    async def send(self, upload: dict[str, Any], data: bytes) -> httpx.Response:
        return await self.transfer.request(
            upload["method"], upload["url"], content=data, headers=upload["headers"]
        )

    async def register(self, member: Member, media_id: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/media", json={"media_id": media_id}, headers=member.headers
        )

    async def upload(
        self,
        member: Member,
        legacy_id: UUID,
        data: bytes,
        *,
        content_type: str = "image/jpeg",
        filename: str = "photo.jpg",
    ) -> dict[str, Any]:
        """A ready media file (the registration's answer)."""
        presigned = await self.presign(
            member, legacy_id, size=len(data), content_type=content_type, filename=filename
        )
        assert presigned.status_code == 201, presigned.text
        sent = await self.send(presigned.json()["upload"], data)
        assert sent.status_code in (200, 204), sent.text
        registered = await self.register(member, presigned.json()["media"]["id"])
        assert registered.status_code == 201, registered.text
        body: dict[str, Any] = registered.json()
        return body


@pytest.fixture
def uploads(client: httpx.AsyncClient) -> Uploads:
    return Uploads(client=client, transfer=client)


def app_with_media(settings: Settings, location: DatabaseLocation, **media: Any) -> FastAPI:
    section = MediaSettings.model_validate({**settings.media.model_dump(), **media})
    return create_app(settings.model_copy(update={"media": section}), location)


@pytest.fixture(scope="session")
async def s3_app(
    settings: Settings, location: DatabaseLocation, moto_endpoint: str
) -> AsyncIterator[FastAPI]:
    """The app with the S3 store, on moto's server, its bucket created."""
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=moto_endpoint) as s3:
        await s3.create_bucket(Bucket=S3_BUCKET)
    application = app_with_media(
        settings,
        location,
        media_backend=MediaBackend.S3,
        media_s3_bucket=S3_BUCKET,
        media_s3_endpoint_url=moto_endpoint,
        **S3_CREDENTIALS,
    )
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def s3_uploads(s3_app: FastAPI) -> AsyncIterator[Uploads]:
    transport = httpx.ASGITransport(app=s3_app, client=unique_client_address())
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        httpx.AsyncClient() as transfer,
    ):
        yield Uploads(client=client, transfer=transfer)
