"""Alembic wiring shared by the CLI, health checks and tests: where migrations live, which is head."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from shared.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    # Reading the revision files costs milliseconds; they do not change while a process runs.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    return _scripts().get_current_head()


async def current_revision(database: Database) -> str | None:
    try:
        async with database.session(write=False) as session:
            connection = await session.connection()
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return result.scalar_one_or_none()
    except OperationalError:
        return None


def stamp_head(connection: Connection) -> None:
    """Record the newest revision on a schema built by `metadata.create_all`, as `alembic stamp head` would."""
    MigrationContext.configure(connection).stamp(_scripts(), "head")
