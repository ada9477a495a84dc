"""Health probes. They report states, never paths, addresses or error texts."""

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from features.health.schemas import Check, DatabaseCheck, DetailedHealth, Health
from shared.config import Settings
from shared.db import Database, sqlite_file_path
from shared.migrations import current_revision, head_revision

VERSION = "2.0.0"


SCHEMA_NOT_AT_HEAD = "the database schema is not at the newest migration; run `magnetiq db upgrade`"
DATABASE_UNREACHABLE = "database unreachable"
# Every pooled connection was in use for the whole pool timeout: the process is loaded, not broken,
# so it reports degraded (200) rather than unhealthy, and a load balancer keeps sending it traffic.
DATABASE_BUSY = "database busy: no connection was free in time"


class SchemaProbe:
    """Whether the database is reachable and at the newest migration, for the often polled /health.

    A yes is remembered for `ttl` seconds (one process, monotonic clock); a no never is, so a
    database upgraded meanwhile is reported healthy at the next poll.
    """

    def __init__(self, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._healthy_until = float("-inf")

    async def problem(self, database: Database) -> str | None:
        """None when healthy, else what is wrong."""
        if self._clock() < self._healthy_until:
            return None
        try:
            revision = await current_revision(database)  # one SELECT version_num FROM alembic_version
        except PoolTimeout:
            return DATABASE_BUSY
        except (SQLAlchemyError, OSError):
            return DATABASE_UNREACHABLE
        if revision is not None and revision == head_revision():
            self._healthy_until = self._clock() + self.ttl
            return None
        # No revision: a table never created, or no database at all. Only this rare path asks which.
        return SCHEMA_NOT_AT_HEAD if await database_reachable(database) else DATABASE_UNREACHABLE


async def basic_health(database: Database, settings: Settings, probe: SchemaProbe) -> Health:
    problem = await probe.problem(database)
    if problem is None:
        return Health(status="healthy", version=VERSION, environment=settings.environment)
    status = "degraded" if problem == DATABASE_BUSY else "unhealthy"
    return Health(status=status, version=VERSION, environment=settings.environment, detail=problem)


async def database_reachable(database: Database) -> bool:
    """Whether a trivial query answers; a busy pool counts as reachable (it is, only loaded)."""
    try:
        async with database.session(write=False) as session:
            await (await session.connection()).execute(text("SELECT 1"))
    except PoolTimeout:
        return True
    except (SQLAlchemyError, OSError):
        return False
    return True


def database_size_bytes(settings: Settings) -> int | None:
    path = sqlite_file_path(settings.database_url)
    if path is None or not os.path.exists(path):
        return None
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


async def check_database(database: Database, settings: Settings) -> DatabaseCheck:
    if not await database_reachable(database):
        return DatabaseCheck(status="unhealthy", detail=DATABASE_UNREACHABLE)
    try:
        revision = await current_revision(database)
    except PoolTimeout:
        return DatabaseCheck(status="degraded", detail=DATABASE_BUSY, size_bytes=database_size_bytes(settings))
    head = head_revision()
    at_head = revision is not None and revision == head
    return DatabaseCheck(
        status="healthy" if at_head else "degraded",
        detail=None if at_head else SCHEMA_NOT_AT_HEAD,
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
