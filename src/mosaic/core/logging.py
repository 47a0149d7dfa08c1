"""Structured logs: JSON lines carrying request_id, tenant_id and user_id where known."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

from mosaic.core.settings import ObservabilitySettings

REDACTED = "[redacted]"
# Matched against the key lower-cased with "-" read as "_", so header names count too.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "x_api_key",
        "cookie",
        "set_cookie",
        "dsn",
        "database_url",
    }
)
# "access_token", "client_secret", "app_password"…, but not "prompt_tokens" or "token_count".
_SECRET_SUFFIXES = ("_password", "_secret", "_token", "_api_key")


def is_secret_key(key: str) -> bool:
    """Whether a log field named ``key`` holds a credential."""
    normalised = key.lower().replace("-", "_")
    return normalised in _SECRET_KEYS or normalised.endswith(_SECRET_SUFFIXES)


def _redacted(value: Any) -> Any:
    # Secrets also travel inside structures: headers={"Authorization": ...}, a settings dump.
    # Tuples are left alone: exc_info is one, and its processors need it intact.
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_key(key) else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _redact_secrets(
    _: object, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key, value in event_dict.items():
        event_dict[key] = REDACTED if is_secret_key(key) else _redacted(value)
    return event_dict


def configure_logging(settings: ObservabilitySettings, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library (uvicorn, alembic…) through one renderer.

    Lines go to ``stream``, standard error by default.
    """
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Level first: an event below the cutoff skips every other processor.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own middleware writes one access line per request, with its context.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("pgserver").setLevel(logging.WARNING)
