"""The framework's floor under the ``stories`` figures: FastAPI on uvicorn (the same workers,
HTTP parser and event loop as ``mosaic serve``) answering each target with the raw baseline's
statements through an asyncpg pool, and nothing else: no authentication, no policy, no ORM, no
middleware, no events handled.

What separates Mosaic's figures from these is Mosaic's own work; what separates these from the
raw asyncpg baseline is the HTTP framework's. ``python -m bench.bare_app --port P --workers N``
serves it, configured by ``MOSAIC_BENCH_BARE_APP`` (JSON, written by ``bench.stories``;
``bench.server.bare_app`` starts it).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import uvicorn
from fastapi import FastAPI

from bench import stories
from bench.server import BARE_APP_CONFIG_VARIABLE

PATH = stories.BARE_PATH


def create_app() -> FastAPI:
    """The app, configured from the environment (uvicorn calls this in every worker)."""
    config: dict[str, Any] = json.loads(os.environ[BARE_APP_CONFIG_VARIABLE])
    seeded = stories.Seeded(
        legacy_id=UUID(config["legacy_id"]),
        tenant_id=UUID(config["tenant_id"]),
        user_id=UUID(config["user_id"]),
        template_story_id=UUID(config["template_story_id"]),
        bearer={},
    )
    list_page = stories.list_page(seeded)
    create_story = stories.create_story(seeded, stories.CopyStatements(**config["statements"]))
    pools: list[asyncpg.Pool[asyncpg.Record]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            host=config["socket_dir"],
            user=config["user"],
            database=config["database"],
            min_size=config["pool_min_size"],
            max_size=config["pool_size"],
            # Connections beyond min_size close soon after a run, as SQLAlchemy's overflow
            # does when returned: the cluster's connection slots are shared by everything here.
            max_inactive_connection_lifetime=1.0,
            server_settings={"application_name": "mosaic-bench-bare-app"},
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get(PATH)
    async def list_stories() -> dict[str, Any]:
        async with pools[0].acquire() as connection:
            page = await list_page(connection)
        # The page as JSON, as Mosaic answers it (FastAPI encodes the rows).
        return {"data": [dict(row) for row in page[: stories.PAGE_SIZE]]}

    @app.post(PATH, status_code=201)
    async def write_story() -> dict[str, str]:
        async with pools[0].acquire() as connection:
            story_id = await create_story(connection)
        return {"id": str(story_id)}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    arguments = parser.parse_args()
    uvicorn.run(
        "bench.bare_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=arguments.port,
        workers=arguments.workers,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
