"""Probes for the orchestrator: liveness (the process answers) and readiness (it can serve)."""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from mosaic.core.database import Database
from mosaic.core.database_errors import RETRY_AFTER_SECONDS, describe_database_error
from mosaic.core.errors import ServiceUnavailable, error_response, error_responses

logger = structlog.get_logger(__name__)

# Well under the usual probe timeout (1 s in Kubernetes by default is tight; 2-5 s is common),
# so a hanging connect answers 503 instead of timing the probe out.
READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: Literal["live"] = "live"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]


@router.get("/live", response_model=Liveness, summary="The process is running")
async def live() -> Liveness:
    """Answer 200 while the process runs; never touches the database."""
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The API can serve requests (its database answers)",
    responses=error_responses(ServiceUnavailable),
)
async def ready(request: Request) -> Readiness | JSONResponse:
    """Answer 200 when the database answers, 503 in the error envelope when it does not."""
    database: Database = request.app.state.database
    try:
        await asyncio.wait_for(_ping(database), timeout=READINESS_TIMEOUT_SECONDS)
    except Exception as exc:
        # Readiness is exactly where a failing database is an answer, not an error.
        logger.warning(
            "readiness_check_failed", check="database", error=describe_database_error(exc)
        )
        return error_response(
            ServiceUnavailable.status_code,
            ServiceUnavailable.code,
            "The service is not ready: the database is unavailable",
            details={"checks": {"database": "unavailable"}},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return Readiness(checks={"database": "ok"})


async def _ping(database: Database) -> None:
    # The engine has no pool_pre_ping (a round-trip per checkout); after a server restart the
    # first use of a pooled connection fails and SQLAlchemy invalidates the whole pool. Trying
    # once more on a fresh connection keeps the probe from reporting a healthy database down.
    try:
        await database.ping()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        await database.ping()
