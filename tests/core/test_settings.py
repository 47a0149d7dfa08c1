"""Settings refuse values that would weaken authentication or break rate limiting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mosaic.core.settings import IdentitySettings, RateLimitSettings, RegistrationMode


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
