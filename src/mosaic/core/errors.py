"""One error base class with its HTTP status and stable code, and the handlers that render
every error — ours, the framework's and unexpected ones — in the envelope of seed 002::

    {"error": {"code": "NOT_FOUND", "message": "...", "details": null, "request_id": "..."}}
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from mosaic.core.request_context import REQUEST_ID_HEADER, current_request_id

logger = structlog.get_logger(__name__)


class MosaicError(Exception):
    """Base of every error the API returns on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "An unexpected error occurred"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(MosaicError):
    status_code = 400
    code = "BAD_REQUEST"
    default_message = "The request is malformed"


class InvalidCursor(BadRequest):
    code = "INVALID_CURSOR"
    default_message = "The pagination cursor is invalid or expired"


class Unauthorized(MosaicError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication is required"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(MosaicError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this"


class NotFound(MosaicError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "The resource was not found"


class Conflict(MosaicError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state of the resource"


class PreconditionFailed(MosaicError):
    status_code = 412
    code = "PRECONDITION_FAILED"
    default_message = "The resource has changed since you read it"


class ValidationFailed(MosaicError):
    status_code = 422
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid"


class IdempotencyKeyReused(ValidationFailed):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This Idempotency-Key was already used with a different request"


class RateLimited(MosaicError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; retry later"

    def __init__(
        self, message: str | None = None, *, retry_after: int, details: Any = None
    ) -> None:
        super().__init__(message, details=details, headers={"Retry-After": str(retry_after)})


class IdempotencyKeyInProgress(Conflict):
    code = "IDEMPOTENCY_KEY_IN_PROGRESS"
    default_message = "The first request with this Idempotency-Key has no stored answer yet"


class ServiceUnavailable(MosaicError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable"


class ErrorBody(BaseModel):
    """The inside of the envelope: a stable code, a human message, and what went wrong."""

    code: str
    message: str
    details: Any = None
    request_id: str | None = None


class ErrorEnvelope(BaseModel):
    """The shape of every error response."""

    error: ErrorBody


# Framework statuses (unknown route, wrong method, oversized body…) and their stable codes.
_HTTP_STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    428: "PRECONDITION_REQUIRED",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    """Render one error in the envelope, carrying the request id."""
    request_id = request_id or current_request_id()
    body = ErrorEnvelope(
        error=ErrorBody(code=code, message=message, details=details, request_id=request_id)
    )
    response = JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may hold a password or a token.
    return [
        {"loc": list(error.get("loc", ())), "message": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]


async def _handle_mosaic_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MosaicError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(error["type"] == "json_invalid" for error in details):
        return error_response(400, "INVALID_JSON", "The request body is not valid JSON", details)
    return error_response(422, "VALIDATION_ERROR", "The request is not valid", details)


async def _handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI reports a body that is not UTF-8 as a generic parse error; JSON text must be
        # UTF-8 (RFC 8259), so it is as malformed as a missing brace.
        return error_response(400, "INVALID_JSON", "The request body is not valid UTF-8 JSON")
    code = _HTTP_STATUS_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and message == "Not Found":
        message = "The resource was not found"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, headers=headers)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Runs in Starlette's outermost middleware, after the request context has been reset,
    # so the request id comes from the request's own state. The trace goes to the log only:
    # the body says nothing about the code that failed.
    request_id = getattr(request.state, "request_id", None)
    logger.error("unhandled_exception", request_id=request_id, exc_info=exc)
    return error_response(
        500, "INTERNAL_ERROR", "An unexpected error occurred", request_id=request_id
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of error to the envelope."""
    app.add_exception_handler(MosaicError, _handle_mosaic_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(Exception, _handle_unexpected)


def error_responses(*errors: type[MosaicError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route can return."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(error.status_code, {"model": ErrorEnvelope, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], error.code]))
    return responses
