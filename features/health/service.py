"""Health probes. They report states, never paths, addresses or error texts."""

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from features.health.schemas import (
    DatabaseService,
    DetailedHealth,
    FilesystemService,
    Health,
    MigrationsService,
    ServiceCheck,
    Services,
    Status,
)
from shared import dialect
from shared.config import Settings
from shared.db import Database, sqlite_file_path
from shared.dialect import EngineFacts
from shared.health_checks import SingleFlight, run_checks
from shared.migrations import current_revision, head_revision

VERSION = "2.0.0"
CHECK_TIMEOUT = 5.0  # seconds one check of /health/detailed may take before it is reported timed out


SCHEMA_NOT_AT_HEAD = "the database schema is not at the newest migration; run `magnetiq db upgrade`"
DATABASE_UNREACHABLE = "database unreachable"
# Every pooled connection was in use for the whole pool timeout: the process is loaded, not broken,
# so it reports degraded (200) rather than unhealthy, and a load balancer keeps sending it traffic.
DATABASE_BUSY = "database busy: no connection was free in time"
UPLOAD_DIR_NOT_WRITABLE = "upload directory is not writable"


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


DatabaseState = Literal["reachable", "busy", "unreachable"]


async def database_state(database: Database) -> DatabaseState:
    """Whether a trivial query answers; `busy`: every pooled connection stayed in use (loaded, not broken)."""
    try:
        async with database.session(write=False) as session:
            await (await session.connection()).execute(text("SELECT 1"))
    except PoolTimeout:
        return "busy"
    except (SQLAlchemyError, OSError):
        return "unreachable"
    return "reachable"


async def database_reachable(database: Database) -> bool:
    """Whether a trivial query answers; a busy pool counts as reachable (it is, only loaded)."""
    return await database_state(database) != "unreachable"


def database_file_sizes(settings: Settings) -> tuple[int, int] | None:
    """Bytes of the database file and of its write-ahead log; None without a file. Blocking: run it in a thread."""
    path = sqlite_file_path(settings.database_url)
    if path is None or not os.path.exists(path):
        return None
    wal = f"{path}-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


def upload_dir_writable(upload_dir: str) -> bool:
    """Whether a file can be created in the upload directory (made if missing). Blocking: run it in a thread."""
    directory = Path(upload_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".health-"):
            pass
    except OSError:
        return False
    return True


def engine_label(database: Database) -> str:
    return "PostgreSQL" if database.dialect == "postgresql" else "SQLite"


async def engine_facts(database: Database) -> EngineFacts:
    async with database.session(write=False) as session:
        return await dialect.engine_facts(session)


async def database_service(database: Database) -> DatabaseService:
    """Reachable (its engine's name, version and size answer, in one session), busy or unreachable."""
    label = engine_label(database)
    try:
        facts = await engine_facts(database)
    except PoolTimeout:
        return DatabaseService(status="warning", message=DATABASE_BUSY, type=label)
    except (SQLAlchemyError, OSError):
        return DatabaseService(status="unhealthy", message=DATABASE_UNREACHABLE, type=label)
    return DatabaseService(status="healthy", type=facts.name, version=facts.version, size_bytes=facts.size_bytes)


async def filesystem_service(
    settings: Settings, flights: SingleFlight, database: Database | None = None
) -> FilesystemService:
    """The seed's database size: SQLite's file and WAL; PostgreSQL's pg_database_size (its files are the server's)."""
    if database is not None and database.dialect == "postgresql":
        try:
            facts = await engine_facts(database)
        except PoolTimeout:  # loaded, not broken (as the database service says)
            return FilesystemService(status="warning", message=DATABASE_BUSY)
        except (SQLAlchemyError, OSError):
            return FilesystemService(status="unhealthy", message=DATABASE_UNREACHABLE)
        return FilesystemService(status="healthy", database_size_mb=round(facts.size_bytes / 1024 / 1024, 2))
    try:
        sizes = await flights.run("database_file_sizes", database_file_sizes, settings)
    except OSError:
        return FilesystemService(status="unhealthy", message="database file not readable")
    if sizes is None:
        return FilesystemService(status="warning", message="database file not found")
    return FilesystemService(status="healthy", database_size_mb=round(sum(sizes) / 1024 / 1024, 2))


async def migrations_service(database: Database) -> MigrationsService:
    head = head_revision()
    try:
        revision = await current_revision(database)
    except PoolTimeout:
        return MigrationsService(status="warning", message=DATABASE_BUSY, head_revision=head)
    except (SQLAlchemyError, OSError):
        return MigrationsService(status="unhealthy", message=DATABASE_UNREACHABLE, head_revision=head)
    if revision is not None and revision == head:
        return MigrationsService(status="healthy", revision=revision, head_revision=head, at_head=True)
    if revision is None and not await database_reachable(database):
        return MigrationsService(status="unhealthy", message=DATABASE_UNREACHABLE, head_revision=head)
    return MigrationsService(
        status="unhealthy", message=SCHEMA_NOT_AT_HEAD, revision=revision, head_revision=head, at_head=False
    )


async def upload_dir_service(settings: Settings, flights: SingleFlight) -> ServiceCheck:
    if await flights.run("upload_dir_writable", upload_dir_writable, settings.upload_dir):
        return ServiceCheck(status="healthy")
    return ServiceCheck(status="unhealthy", message=UPLOAD_DIR_NOT_WRITABLE)


async def detailed_health(
    database: Database, settings: Settings, flights: SingleFlight, *, time_limit: float = CHECK_TIMEOUT
) -> DetailedHealth:
    """The seed's shape: unhealthy when the database is, degraded when any other service is not healthy."""
    services = Services(**await run_checks({
        "database": (DatabaseService, database_service(database)),
        "filesystem": (FilesystemService, filesystem_service(settings, flights, database)),
        "migrations": (MigrationsService, migrations_service(database)),
        "upload_dir": (ServiceCheck, upload_dir_service(settings, flights)),
    }, time_limit=time_limit))
    states = {services.database.status, services.filesystem.status, services.migrations.status,
              services.upload_dir.status}
    overall: Status = "unhealthy" if services.database.status == "unhealthy" else (
        "degraded" if states != {"healthy"} else "healthy")
    return DetailedHealth(status=overall, version=VERSION, environment=settings.environment, services=services)
