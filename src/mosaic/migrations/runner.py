"""Apply and revert migrations from code (``mosaic migrate``, start-up, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from mosaic.core.settings import DatabaseSettings

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(owner_url: URL, settings: DatabaseSettings) -> Config:
    """An Alembic config pointing at our scripts and at the owner's connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["owner_url"] = owner_url
    config.attributes["app_role"] = settings.app_role
    config.attributes["app_password"] = (
        settings.app_password.get_secret_value() if settings.app_password else None
    )
    return config


def upgrade(owner_url: URL, settings: DatabaseSettings, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Blocking: call it outside the event loop."""
    command.upgrade(alembic_config(owner_url, settings), revision)


def downgrade(owner_url: URL, settings: DatabaseSettings, revision: str) -> None:
    command.downgrade(alembic_config(owner_url, settings), revision)


def current(owner_url: URL, settings: DatabaseSettings) -> None:
    command.current(alembic_config(owner_url, settings), verbose=False)


def check(owner_url: URL, settings: DatabaseSettings) -> None:
    """Raise if the models and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(owner_url, settings))
