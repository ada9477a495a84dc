"""Taking backups, by `magnetiq backup PATH` or on a schedule by the worker; each is recorded in backup_runs."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import shutil
import sqlite3
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, text
from sqlmodel import col, select

from features.admin import backup_files as files
from features.admin import postgres_tools
from features.admin.backup_files import BackupProblem, Engine, Manifest
from features.admin.models import BackupRun
from features.admin.postgres_tools import ToolProblem
from shared.config import Settings
from shared.db import Database, sqlite_file_path, utcnow
from shared.jobs import JobContext, PeriodicJob

logger = logging.getLogger("magnetiq.backups")

SCHEDULED_NAME = re.compile(r"^scheduled-\d{8}T\d{6}Z$")
RETRY_FAILED_AFTER = timedelta(hours=1)  # a failed scheduled backup is tried again this soon, not a day later


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    size_bytes: int
    seconds: float


async def take_backup(
    database: Database, settings: Settings, *, target: Path, trigger: str, now: datetime | None = None,
) -> BackupResult:
    """Copies the database and the media to `target` (a directory, or a .tar), verified, and records the run."""
    if database.dialect == "sqlite":
        source = sqlite_file_path(settings.database_url)
        if source is None or not await asyncio.to_thread(Path(source).is_file):
            raise BackupProblem("backup needs an existing SQLite database file (DATABASE_URL)")
    if await asyncio.to_thread(target.exists):
        raise BackupProblem(f"{target.name} exists; choose a new name")
    run_id = await _start_run(database, trigger=trigger, name=target.name, now=now)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        # Started after the run is recorded: the copy holds its own run, `running` (a restore completes it).
        async with database_copier(database, settings) as copier:
            manifest, size = await asyncio.to_thread(
                _write_backup, copier, Path(settings.upload_dir), target, run_id, now or utcnow()
            )
    except (BackupProblem, OSError, sqlite3.Error, ToolProblem) as exc:
        problem = exc if isinstance(exc, BackupProblem) else BackupProblem(_reason(exc))
        await _finish_run(database, run_id, status="failed", error=problem.message)
        raise problem from None
    except BaseException:
        await asyncio.shield(_finish_run(database, run_id, status="failed", error="interrupted"))
        raise
    await _finish_run(
        database, run_id, status="succeeded", size_bytes=size,
        database_sha256=manifest.database.sha256, revision=manifest.revision,
    )
    return BackupResult(path=target, manifest=manifest, size_bytes=size, seconds=round(loop.time() - started, 3))


@dataclass(frozen=True)
class DatabaseCopier:
    """How this engine's database is copied into a backup (blocking: called in a thread)."""

    engine: Engine
    file: str  # the copy's name in the backup
    write: Callable[[Path], None]  # a consistent copy at the path
    revision: Callable[[Path], str | None]  # the copy's migration revision


@asynccontextmanager
async def database_copier(database: Database, settings: Settings) -> AsyncIterator[DatabaseCopier]:
    """SQLite: its online backup API, and the revision read from the copy. PostgreSQL: pg_dump of a
    snapshot exported by a REPEATABLE READ transaction held open meanwhile, whose revision is read in
    that same snapshot; every row committed before the backup began is in it, and none after."""
    if database.dialect != "postgresql":
        source = sqlite_file_path(settings.database_url)
        assert source is not None
        yield DatabaseCopier("sqlite", files.DATABASE_FILE, functools.partial(files.copy_database, source),
                             files.database_revision)
        return
    async with database.engine.connect() as connection:
        snapshot_connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with snapshot_connection.begin():
            snapshot = (await snapshot_connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            major = int((await snapshot_connection.execute(text("SHOW server_version_num"))).scalar_one()) // 10000
            migrated = (await snapshot_connection.execute(text("SELECT to_regclass('alembic_version')"))).scalar()
            revision = (await snapshot_connection.execute(text("SELECT version_num FROM alembic_version"))).scalar() \
                if migrated else None
            yield DatabaseCopier(
                "postgresql", postgres_tools.DUMP_FILE,
                lambda path: postgres_tools.dump(settings.database_url, path, server_major=major, snapshot=snapshot),
                lambda _path: revision,
            )


def _reason(exc: OSError | sqlite3.Error | ToolProblem) -> str:
    if isinstance(exc, ToolProblem):
        return exc.message
    if isinstance(exc, OSError):
        return f"cannot write the backup: {exc.strerror or type(exc).__name__}"  # strerror carries no path
    return f"the database could not be copied: {exc}"


def _write_backup(
    copier: DatabaseCopier, upload_dir: Path, target: Path, run_id: int | None, now: datetime,
) -> tuple[Manifest, int]:
    """The backup built beside `target` under a temporary name, then moved into place: never half a backup."""
    as_tar = target.suffix == ".tar"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    root = staging / (target.stem if as_tar else target.name)
    media = root / files.MEDIA_DIR
    try:
        media.mkdir(parents=True)
        # Media before and after the database: every file a row of the copy names is in the backup
        # (one deleted in between stays as an unused file; one uploaded in between is linked afterwards).
        files.add_media(upload_dir, media)
        database = root / copier.file
        copier.write(database)
        files.add_media(upload_dir, media)
        if problem := files.check_copy(database, copier.engine):
            raise BackupProblem(f"the copy fails {problem}")
        listed = files.list_media(media)
        manifest = Manifest(
            created_at=now, revision=copier.revision(database), backup_run_id=run_id,
            database=files.DatabaseCopy(engine=copier.engine, file=copier.file, size=database.stat().st_size,
                                        sha256=files.sha256_of(database)),
            media=listed, media_bytes=sum(item.size for item in listed),
        )
        (root / files.MANIFEST).write_text(manifest.model_dump_json(indent=2))
        if as_tar:
            packed = staging / target.name
            with tarfile.open(packed, "w") as archive:
                archive.add(root, arcname=root.name)
            packed.replace(target)
            return manifest, target.stat().st_size
        root.replace(target)
        size = manifest.database.size + manifest.media_bytes + (target / files.MANIFEST).stat().st_size
        return manifest, size
    finally:
        shutil.rmtree(staging, ignore_errors=True)


async def _has_backup_runs(database: Database) -> bool:
    """Whether the database has the backup_runs table (one not yet migrated to 0014 is backed up unrecorded)."""
    async with database.session(write=False) as session:
        connection = await session.connection()
        return await connection.run_sync(lambda sync: inspect(sync).has_table(BackupRun.__tablename__))


async def _start_run(database: Database, *, trigger: str, name: str, now: datetime | None) -> int | None:
    if not await _has_backup_runs(database):
        return None
    async with database.session() as session:
        run = BackupRun(trigger=trigger, name=name[:255], started_at=now or utcnow())
        session.add(run)
        await session.flush()
        return run.id


async def _finish_run(database: Database, run_id: int | None, *, status: str, **outcome: object) -> None:
    if run_id is None:
        return
    async with database.session() as session:
        run = await session.get(BackupRun, run_id)
        if run is None:
            return
        run.status, run.finished_at = status, utcnow()
        if isinstance(outcome.get("error"), str):
            outcome["error"] = str(outcome["error"])[:500]
        for field, value in outcome.items():
            setattr(run, field, value)
        session.add(run)


# --- the schedule --------------------------------------------------------------------------------


async def scheduled_backup_due(database: Database, *, now: datetime, interval: timedelta) -> bool:
    async with database.session(write=False) as session:
        newest = (
            await session.exec(
                select(BackupRun).where(BackupRun.trigger == "scheduled")
                .order_by(col(BackupRun.started_at).desc()).limit(1)
            )
        ).first()
    if newest is None:
        return True
    wait = min(interval, RETRY_FAILED_AFTER) if newest.status == "failed" else interval
    return newest.started_at <= now - wait


def prune_scheduled_backups(directory: Path, *, keep: int) -> list[str]:
    """Deletes all but the newest `keep` scheduled backups in `directory`; other files there stay."""
    scheduled = sorted(
        (path for path in directory.iterdir() if SCHEDULED_NAME.match(path.name) and path.is_dir()),
        key=lambda path: path.name, reverse=True,
    )
    for old in scheduled[keep:]:
        shutil.rmtree(old)
    return [old.name for old in scheduled[keep:]]


async def run_scheduled_backup(context: JobContext) -> None:
    """Every BACKUP_INTERVAL_HOURS when BACKUP_DIR is set: a backup there, then the oldest pruned."""
    settings = context.settings
    if not settings.backup_dir:
        return
    now = context.clock()
    interval = timedelta(hours=settings.backup_interval_hours)
    if not await scheduled_backup_due(context.database, now=now, interval=interval):
        return
    directory = Path(settings.backup_dir)
    target = directory / f"scheduled-{now:%Y%m%dT%H%M%SZ}"
    result = await take_backup(context.database, settings, target=target, trigger="scheduled", now=now)
    pruned = await asyncio.to_thread(prune_scheduled_backups, directory, keep=settings.backup_keep)
    logger.info(
        "scheduled backup written",
        extra={"backup": target.name, "bytes": result.size_bytes, "seconds": result.seconds, "pruned": pruned},
    )


# Looked at every few minutes; whether a backup is due is decided from backup_runs and the settings.
# The long lease keeps a second runner off while a large backup is still being written.
SCHEDULED_BACKUP_JOB = PeriodicJob(
    name="admin.scheduled_backup", interval=timedelta(minutes=5), run=run_scheduled_backup, lease=timedelta(hours=2),
)
