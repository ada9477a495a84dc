"""Health probes. They report states, never paths, addresses or error texts."""

import os
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from features.health.schemas import Check, DatabaseCheck, DetailedHealth, Health
from shared.config import Settings
from shared.db import Database, sqlite_file_path
from shared.schema import current_revision, head_revision

VERSION = "2.0.0"


def basic_health(settings: Settings) -> Health:
    return Health(status="healthy", version=VERSION, environment=settings.environment)


def database_size_bytes(settings: Settings) -> int | None:
    path = sqlite_file_path(settings.database_url)
    if path is None or not os.path.exists(path):
        return None
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


async def check_database(database: Database, settings: Settings) -> DatabaseCheck:
    try:
        async with database.session(write=False) as session:
            await (await session.connection()).execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return DatabaseCheck(status="unhealthy", detail="database unreachable")
    revision, head = await current_revision(database), head_revision()
    at_head = revision is not None and revision == head
    return DatabaseCheck(
        status="healthy" if at_head else "degraded",
        detail=None if at_head else "migrations are not at head; run `magnetiq db upgrade`",
        revision=revision, head_revision=head, migrations_at_head=at_head,
        size_bytes=database_size_bytes(settings),
    )


def check_upload_dir(settings: Settings) -> Check:
    directory = Path(settings.upload_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".health-"):
            pass
    except OSError:
        return Check(status="unhealthy", detail="upload directory is not writable")
    return Check(status="healthy")


async def detailed_health(database: Database, settings: Settings) -> DetailedHealth:
    db_check = await check_database(database, settings)
    upload_check = check_upload_dir(settings)
    states = {db_check.status, upload_check.status}
    overall = "unhealthy" if db_check.status == "unhealthy" else ("degraded" if states != {"healthy"} else "healthy")
    return DetailedHealth(
        status=overall, version=VERSION, environment=settings.environment, database=db_check, upload_dir=upload_check
    )
