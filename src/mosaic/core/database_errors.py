"""Turn "the database cannot be reached" into a 503 with ``Retry-After`` instead of a 500.

An outage surfaces in several shapes: a pooled connection the server dropped (SQLAlchemy
marks it ``connection_invalidated``), a raw ``OSError`` from asyncpg when the socket is gone
or refuses (SQLAlchemy does not wrap errors raised while connecting), a Postgres "shutting
down / starting up / too many connections" error, or the pool's own ``TimeoutError`` when
every connection is busy. Everything else a database can raise — constraint violations,
statement timeouts, SQL bugs — stays a 500: those are not fixed by retrying later.

The handlers are registered for specific classes, so Starlette runs them in its
``ExceptionMiddleware`` (inside our request middleware, with the request id still bound);
only the catch-all ``Exception`` handler runs in the outermost ``ServerErrorMiddleware``.
"""

from __future__ import annotations

import traceback

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from mosaic.core.errors import ServiceUnavailable, error_response

logger = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5

# Postgres errors that mean "this server cannot serve you right now", whatever the query.
_UNAVAILABLE_POSTGRES_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.AdminShutdownError,  # 57P01: the server is shutting down (pg_ctl stop, failover)
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: the server is starting up or in recovery
    asyncpg.TooManyConnectionsError,  # 53300
)

_DATABASE_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (not a bad query)."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True  # the pool's checkout timeout: every connection is busy
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return any(_is_unavailable_cause(cause) for cause in _causes(exc.orig))
    if isinstance(exc, OSError):
        # Only OSErrors raised inside the driver: a failing file read elsewhere is a bug.
        return _raised_by_database_driver(exc)
    return isinstance(exc, _UNAVAILABLE_POSTGRES_ERRORS)


def _is_unavailable_cause(exc: BaseException) -> bool:
    return isinstance(exc, (*_UNAVAILABLE_POSTGRES_ERRORS, OSError))


def _causes(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _raised_by_database_driver(exc: BaseException) -> bool:
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DATABASE_DRIVER_MODULES):
            return True
    return False


def describe_database_error(exc: BaseException) -> str:
    """The chain of driver errors behind ``exc``, for logs (without SQL or parameters)."""
    # The driver's messages only: SQLAlchemy's own str() carries the SQL and its parameters.
    start = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    return " <- ".join(f"{type(cause).__name__}: {cause}" for cause in _causes(start))


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_unavailable(exc):
        # Not an outage: let it reach the catch-all handler, which logs it and answers 500.
        raise exc
    logger.warning(
        "database_unavailable",
        error=type(exc).__name__,
        cause=describe_database_error(exc),
        method=request.method,
        path=request.url.path,
    )
    return error_response(
        ServiceUnavailable.status_code,
        ServiceUnavailable.code,
        "The database is temporarily unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_database_error_handlers(app: FastAPI) -> None:
    """Answer 503 + ``Retry-After`` when a request fails because the database is unreachable."""
    for error in (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, asyncpg.PostgresError):
        app.add_exception_handler(error, _handle_database_error)
