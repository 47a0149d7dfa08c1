"""Settings read from the environment, what production refuses to start with, and the values
that would weaken authentication or break rate limiting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from mosaic.core.settings import (
    DEVELOPMENT_SECRET_KEY,
    ConfigurationError,
    Environment,
    IdentitySettings,
    RateLimitSettings,
    RegistrationMode,
    get_settings,
    load_settings,
)

GOOD_SECRET = "k" * 40
SERVER_URL = "postgresql://mosaic@db.internal:5432/mosaic"
PUBLIC_URL = "https://mosaic.example.org"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("MOSAIC_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults_serve_locally_with_embedded_postgres_under_dot_mosaic() -> None:
    settings = load_settings()

    assert settings.server.env is Environment.DEVELOPMENT
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.database.url is None
    assert settings.database.data_dir == Path(".mosaic")
    assert settings.server.graceful_shutdown_seconds == 30
    assert settings.server.web_concurrency == 1


def test_server_and_data_dir_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSAIC_HOST", "10.0.0.5")
    monkeypatch.setenv("MOSAIC_PORT", "9001")
    monkeypatch.setenv("MOSAIC_DATA_DIR", "/var/lib/mosaic")
    monkeypatch.setenv("MOSAIC_GRACEFUL_SHUTDOWN_SECONDS", "5")
    monkeypatch.setenv("MOSAIC_WEB_CONCURRENCY", "4")

    settings = load_settings()

    assert (settings.server.host, settings.server.port) == ("10.0.0.5", 9001)
    assert settings.database.data_dir == Path("/var/lib/mosaic")
    assert settings.server.graceful_shutdown_seconds == 5
    assert settings.server.web_concurrency == 4


@pytest.mark.parametrize(
    ("workers", "refusal"),
    [("0", "greater than or equal to 1"), ("65", "less than or equal to 64")],
)
def test_web_concurrency_outside_1_to_64_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, workers: str, refusal: str
) -> None:
    monkeypatch.setenv("MOSAIC_WEB_CONCURRENCY", workers)

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert f"MOSAIC_WEB_CONCURRENCY: Input should be {refusal}" in str(refused.value)


def test_database_url_is_read_from_database_url_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", SERVER_URL)

    assert load_settings().database.url == SERVER_URL


def test_mosaic_database_url_wins_over_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://other@elsewhere/other")
    monkeypatch.setenv("MOSAIC_DATABASE_URL", SERVER_URL)

    assert load_settings().database.url == SERVER_URL


@pytest.mark.parametrize("secret", [None, DEVELOPMENT_SECRET_KEY, "too-short-for-production"])
def test_production_refuses_the_default_or_a_weak_secret_key(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    monkeypatch.setenv("MOSAIC_DATABASE_URL", SERVER_URL)
    if secret is not None:
        monkeypatch.setenv("MOSAIC_SECRET_KEY", secret)

    with pytest.raises(ConfigurationError, match="MOSAIC_SECRET_KEY must be set") as refused:
        load_settings()
    assert "MOSAIC_DATABASE_URL" not in str(refused.value)


def test_production_refuses_to_run_without_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    monkeypatch.setenv("MOSAIC_SECRET_KEY", GOOD_SECRET)

    with pytest.raises(ConfigurationError, match="MOSAIC_DATABASE_URL must be set") as refused:
        load_settings()
    assert "MOSAIC_SECRET_KEY" not in str(refused.value)


def test_production_names_every_missing_setting_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")

    with pytest.raises(ConfigurationError) as refused:
        get_settings()

    assert "MOSAIC_SECRET_KEY" in str(refused.value)
    assert "MOSAIC_DATABASE_URL" in str(refused.value)


@pytest.mark.parametrize("public_url", [None, "http://mosaic.example.org"])
def test_production_refuses_links_built_from_the_host_header(
    monkeypatch: pytest.MonkeyPatch, public_url: str | None
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    monkeypatch.setenv("MOSAIC_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", SERVER_URL)
    if public_url is not None:
        monkeypatch.setenv("MOSAIC_PUBLIC_URL", public_url)

    with pytest.raises(ConfigurationError, match="MOSAIC_PUBLIC_URL must be set"):
        load_settings()


def test_production_starts_with_a_secret_key_and_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    monkeypatch.setenv("MOSAIC_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", SERVER_URL)
    monkeypatch.setenv("MOSAIC_PUBLIC_URL", PUBLIC_URL)

    settings = load_settings()

    assert settings.server.env is Environment.PRODUCTION
    assert settings.security.secret_key.get_secret_value() == GOOD_SECRET


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOSAIC_PORT", "70000"),
        ("MOSAIC_ENV", "staging"),
        ("MOSAIC_DATABASE_POOL_SIZE", "0"),
        ("MOSAIC_DATABASE_APP_ROLE", "Robert'); DROP"),
    ],
)
def test_an_invalid_value_is_reported_by_its_variable_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=f"^Invalid configuration:\n  {variable}: "):
        load_settings()


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("MOSAIC_PORT", "9001")

    assert get_settings() is first


def test_an_access_token_may_not_live_longer_than_fifteen_minutes() -> None:
    with pytest.raises(ValidationError, match="access_token_ttl_seconds"):
        IdentitySettings(access_token_ttl_seconds=901)


def test_a_login_limit_must_be_in_limits_notation() -> None:
    with pytest.raises(ValidationError, match="is not a rate limit"):
        IdentitySettings(login_failures_per_account="five per hour")


def test_a_request_limit_must_be_a_single_limit() -> None:
    with pytest.raises(ValidationError, match="exactly one rate limit"):
        RateLimitSettings(rate_limit_writes_per_ip="10/second;100/minute")


def test_the_registration_mode_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOSAIC_REGISTRATION_MODE", "invite_only")

    assert IdentitySettings().registration_mode is RegistrationMode.INVITE_ONLY


def test_the_redis_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSAIC_REDIS_URL", "redis://cache:6379/0")

    assert RateLimitSettings().redis_url == "redis://cache:6379/0"


def test_oidc_providers_are_read_as_json_with_secret_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "MOSAIC_OIDC_PROVIDERS",
        '{"google": {"issuer": "https://accounts.google.com", "client_id": "id-1",'
        ' "client_secret": "shh"}, "keycloak": {"issuer": "https://kc.example/realms/x",'
        ' "client_id": "mosaic", "scopes": ["openid", "email"]}}',
    )

    providers = load_settings().identity.oidc_providers

    assert providers["google"].scopes == ["openid", "email", "profile"]
    assert providers["google"].client_secret is not None
    assert "shh" not in repr(providers["google"])
    assert providers["keycloak"].client_secret is None


@pytest.mark.parametrize(
    "providers",
    [
        {"Bad Name": {"issuer": "https://idp.example", "client_id": "x"}},
        {"idp": {"issuer": "idp.example", "client_id": "x"}},
        {"idp": {"issuer": "https://idp.example", "client_id": "x", "scopes": ["email"]}},
    ],
)
def test_a_malformed_oidc_provider_is_refused(providers: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IdentitySettings.model_validate({"oidc_providers": providers})


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil"])
def test_the_default_post_login_redirect_must_be_a_local_path(target: str) -> None:
    with pytest.raises(ValidationError):
        IdentitySettings(post_login_redirect=target)


def test_production_refuses_session_cookies_without_secure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    monkeypatch.setenv("MOSAIC_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", SERVER_URL)
    monkeypatch.setenv("MOSAIC_SESSION_COOKIE_SECURE", "false")

    with pytest.raises(ConfigurationError, match="MOSAIC_SESSION_COOKIE_SECURE"):
        load_settings()


def test_the_sns_sqs_region_is_taken_by_name_and_from_its_environment_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mosaic.core.settings import SnsSqsSettings

    assert SnsSqsSettings(sns_sqs_region="us-east-1").sns_sqs_region == "us-east-1"
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert SnsSqsSettings().sns_sqs_region == "ap-southeast-2"
