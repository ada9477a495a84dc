"""Reading and writing the test's database behind the app's back, on either engine, and reading a backup's copy."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from features.admin import postgres_tools
from shared.db import sqlite_file_path
from tests import engines


async def query(database_url: str, sql: str, **params: Any) -> list[tuple]:
    """The rows of `sql` on a connection of its own (another process, as far as the app can tell)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return [tuple(row) for row in (await connection.execute(text(sql), params)).all()]
    finally:
        await engine.dispose()


async def execute(database_url: str, statement: Any, rows: list[dict] | None = None) -> None:
    """Runs a Core statement (or SQL text) once, or once per row, and commits."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            statement = text(statement) if isinstance(statement, str) else statement
            await (connection.execute(statement, rows) if rows is not None else connection.execute(statement))
    finally:
        await engine.dispose()


def copy_rows(path: Path, sql: str) -> list[tuple]:
    """The rows of `sql` in a backup's database copy: a SQLite file read as it is, or a pg_dump file
    restored by pg_restore into a scratch database."""
    if not engines.ON_POSTGRES:
        with closing(sqlite3.connect(path, timeout=15)) as connection:
            return connection.execute(sql).fetchall()
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    engines.admin().execute(f'CREATE DATABASE "{name}"')
    try:
        url = engines.database_url(name)
        subprocess.run([postgres_tools.find_program("pg_restore", None), "--no-owner", "--no-password",
                        f"--dbname={name}", str(path)], env=postgres_tools.libpq_environment(url), check=True,
                       capture_output=True)
        return engines.admin().run(query(url, sql))
    finally:
        engines.drop(name)


def sound(path: Path) -> bool:
    """A SQLite copy passes integrity_check; a dump restores and holds a migration revision."""
    if not engines.ON_POSTGRES:
        return copy_rows(path, "PRAGMA integrity_check") == [("ok",)]
    return len(copy_rows(path, "SELECT version_num FROM alembic_version")) == 1


def database_name(database_url: str) -> str | None:
    """The SQLite file or the PostgreSQL database's name: what the copy kept aside is named after."""
    path = sqlite_file_path(database_url)
    return Path(path).name if path else database_url.rsplit("/", 1)[1]
