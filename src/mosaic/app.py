"""The API process's composition root: middleware order, lifespan, routers, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.pool import Pool

from mosaic import __version__
from mosaic.authz.roles import resolver
from mosaic.core.body_limit import BodySizeLimitMiddleware
from mosaic.core.database import Database, DatabaseLocation
from mosaic.core.database_errors import install_database_error_handlers
from mosaic.core.errors import install_error_handlers
from mosaic.core.etag import ETagMiddleware
from mosaic.core.health import router as health_router
from mosaic.core.idempotency import IdempotentReplay
from mosaic.core.mail import create_mailer
from mosaic.core.metrics import HttpMetrics, MetricsMiddleware
from mosaic.core.metrics import router as metrics_router
from mosaic.core.rate_limiting import RateLimiter, RateLimitMiddleware, RequestLimits
from mosaic.core.request_middleware import RequestContextMiddleware
from mosaic.core.settings import Settings
from mosaic.core.tracing import Tracing
from mosaic.event_consumers import consumers
from mosaic.events.admin_api import router as events_admin_router
from mosaic.events.runtime import EventRuntime
from mosaic.identity.api import router as identity_router
from mosaic.identity.audit_api import router as audit_router
from mosaic.identity.auth_api import router as auth_router
from mosaic.identity.auth_api import well_known_router
from mosaic.identity.components import IdentityComponents
from mosaic.identity.membership_api import router as membership_router
from mosaic.identity.oidc_api import identities_router
from mosaic.identity.oidc_api import router as browser_auth_router
from mosaic.identity.session_service import SESSION_COOKIE
from mosaic.identity.signing_keys import ensure_signing_key
from mosaic.identity.users_api import router as users_router
from mosaic.legacies.api import router as legacies_router
from mosaic.legacies.roles import LegacyRoleSource
from mosaic.media.api import router as media_router
from mosaic.media.blobs_api import router as media_blobs_router
from mosaic.media.storage import build_blob_store
from mosaic.media.storage.factory import LOCAL_BLOBS_PATH
from mosaic.media.upload_rules import MAX_MEDIA_BYTES
from mosaic.privacy.api import router as privacy_router
from mosaic.schedule import scheduled_jobs
from mosaic.scheduling.runner import scheduler_running
from mosaic.stories.api import router as stories_router

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    location: DatabaseLocation,
    *,
    run_worker: bool = False,
    run_scheduler: bool = False,
) -> FastAPI:
    """Build the API application for one database location.

    ``run_worker``: also relay the outbox and run the event consumers in this process;
    ``run_scheduler``: also run a scheduler (``mosaic serve`` does both, unless
    ``MOSAIC_RUN_WORKER=false`` or ``MOSAIC_SCHEDULER_IN_SERVE=false``).
    """
    # Roles below the tenant come from the domain modules that own them.
    resolver.register(LegacyRoleSource())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.connect(location, settings.database)
        app.state.database = database
        tracing.instrument_clients(database.engine)
        async with database.sessionmaker() as session, session.begin():
            await ensure_signing_key(session, secret_key=secret_key)
            await identity.keys.load(session)
        events = EventRuntime(
            settings, location, consumers=consumers(settings), registry=metrics.registry
        )
        app.state.events = events
        if run_worker:
            await events.start()
        try:
            async with AsyncExitStack() as background:
                if run_scheduler:
                    await background.enter_async_context(
                        scheduler_running(settings, location, scheduled_jobs(settings))
                    )
                yield
        finally:
            try:
                await events.stop()
                await database.dispose()
            finally:
                tracing.shutdown()  # flushes the spans still buffered

    tracing = Tracing.from_settings(settings.observability)
    app = FastAPI(
        title="Mosaic",
        version=__version__,
        summary="Stories and the knowledge inside them.",
        lifespan=lifespan,
        telemetry=tracing.fastapi_telemetry(),
    )
    secret_key = settings.security.secret_key.get_secret_value()
    limiter = RateLimiter.from_url(settings.rate_limits.redis_url)
    # A folder of .eml files in development, SMTP when MOSAIC_MAIL_BACKEND=smtp.
    mailer = create_mailer(settings)
    identity = IdentityComponents.build(
        settings.identity, secret_key=secret_key, limiter=limiter, mailer=mailer
    )
    app.state.settings = settings
    app.state.metrics = metrics = HttpMetrics.create(pool=lambda: _pool(app))
    app.state.tracing = tracing
    app.state.identity = identity
    app.state.rate_limiter = limiter
    app.state.blob_store = build_blob_store(settings)
    install_error_handlers(app)
    install_database_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, _replay)
    # Operational endpoints live outside the versioned API: probes and scrapers never change.
    app.include_router(health_router)
    app.include_router(metrics_router)
    # FastAPI matches a request against each route in turn (~2 µs a route): the routers most
    # requests are for come first, so reading a story does not first try every sign-in and
    # administration route. No route shadows another (tests/test_app.py), so the order changes
    # nothing else.
    app.include_router(stories_router, prefix=API_PREFIX)
    app.include_router(legacies_router, prefix=API_PREFIX)
    app.include_router(media_blobs_router, prefix=API_PREFIX)
    app.include_router(media_router, prefix=API_PREFIX)
    app.include_router(identity_router, prefix=API_PREFIX)
    app.include_router(membership_router, prefix=API_PREFIX)
    app.include_router(audit_router, prefix=API_PREFIX)
    app.include_router(auth_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(identities_router, prefix=API_PREFIX)
    app.include_router(events_admin_router, prefix=API_PREFIX)
    app.include_router(browser_auth_router)
    app.include_router(well_known_router)
    app.include_router(privacy_router, prefix=API_PREFIX)

    # Added innermost first. The request context wraps everything else, so every response —
    # errors from the other middleware included — carries the request id; the metrics
    # middleware wraps it in turn, so the recorded duration is the whole request's. (Outside
    # all of these, Starlette's ServerErrorMiddleware turns an escaped exception into a 500;
    # FastAPI's own telemetry, when tracing is on, wraps even that.)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.server.max_body_bytes,
        # Only the local blob store's upload route takes a media file's bytes.
        path_limits={f"{LOCAL_BLOBS_PATH}/": MAX_MEDIA_BYTES},
    )
    if settings.rate_limits.rate_limit_enabled:
        # Outside the body limit: a throttled client is refused before its body is read.
        app.add_middleware(
            RateLimitMiddleware,
            limiter=limiter,
            limits=RequestLimits.from_settings(settings.rate_limits),
            api_prefix=API_PREFIX,
            # Browser sign-in (/auth/…) writes a row per started login before anyone is
            # known: it shares the per-IP budget of the token endpoints.
            auth_prefixes=(f"{API_PREFIX}/auth/", "/auth/"),
            session_cookie=SESSION_COOKIE,
        )
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "X-API-Key",
                "X-CSRF-Token",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "X-Request-ID", "Location"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _pool(app: FastAPI) -> Pool | None:
    # The database is created by the lifespan: a scrape before start-up finds none.
    database: Database | None = getattr(app.state, "database", None)
    return database.engine.pool if database is not None else None


async def _replay(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return exc.response
