"""Body limits per path: the default for every route, a larger one where files are uploaded."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from mosaic.core.body_limit import BodySizeLimitMiddleware


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("never called here")


def test_a_path_prefix_has_its_own_limit() -> None:
    middleware = BodySizeLimitMiddleware(
        _app, max_bytes=1024, path_limits={"/api/v1/media/blobs/": 10_000}
    )

    assert middleware.limit_for("/api/v1/media/blobs/token") == 10_000
    assert middleware.limit_for("/api/v1/media/presign") == 1024
    assert middleware.limit_for("/api/v1/media/blobs") == 1024
