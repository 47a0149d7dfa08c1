"""Request dependencies of the media module, each declared once as an ``Annotated`` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mosaic.core.dependencies import SettingsDep
from mosaic.core.provenance import Provenance
from mosaic.identity.dependencies import CurrentPrincipal, own_origin
from mosaic.media.storage import BlobStore


async def _blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


async def _provenance(request: Request, principal: CurrentPrincipal) -> Provenance:
    return Provenance.of(principal, request)


async def _origin(request: Request, settings: SettingsDep) -> str:
    return own_origin(request, settings)


BlobStoreDep = Annotated[BlobStore, Depends(_blob_store)]
RequestProvenance = Annotated[Provenance, Depends(_provenance)]
# The origin clients reach Mosaic at: a local store's URLs are made absolute against it.
Origin = Annotated[str, Depends(_origin)]
