"""Run the Alembic migrations programmatically (`lms db upgrade`, tests, make run)."""

from __future__ import annotations

from collections.abc import Sequence

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from lms.config import PROJECT_ROOT


def alembic_config(
    url: str, connection: Connection | None = None, secret_keys: Sequence[str] = ()
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    if secret_keys:
        # Migrations that encrypt stored secrets use the running app's keys (0025).
        config.attributes["secret_keys"] = tuple(secret_keys)
    return config


def upgrade(
    url: str,
    revision: str = "head",
    connection: Connection | None = None,
    secret_keys: Sequence[str] = (),
) -> None:
    """Bring the schema at `url` (or on `connection`) to `revision`."""
    command.upgrade(alembic_config(url, connection, secret_keys), revision)
