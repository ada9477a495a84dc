"""`magnetiq restore PATH`: a verified backup put in place of the database and media, which are kept aside.

SQLite: the database file is moved aside and the copy put in its place. PostgreSQL: the database is
dumped aside (pg_dump, a file beside UPLOAD_DIR) and the backup's dump loaded in one transaction that
first drops what is there (features/admin/postgres_tools.py): a failure leaves the database as it was."""

from __future__ import annotations

import asyncio
import os
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import delete, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from features.admin import backup_files as files
from features.admin import postgres_tools
from features.admin.backup_files import BackupProblem, Manifest
from features.admin.models import BackupRun
from features.admin.postgres_tools import ToolProblem
from shared.config import Settings
from shared.db import Database, sqlite_file_path, utcnow
from shared.jobs import JobSchedule, WorkerHeartbeat, runners_seen_since
from shared.migrations import alembic_config, current_revision

# A runner beats once per cycle (WORKER_POLL_SECONDS) between jobs; one busy with a long job beats
# later. A heartbeat this recent means the process may still be running.
RUNNING_WITHIN = timedelta(minutes=2)


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    set_aside: list[Path]  # where the database and media that were in place went
    revision: str | None  # the restored database's revision after migrating


async def processes_running(database_url: str, settings: Settings, *, now: datetime) -> list[str]:
    """Each process with a fresh heartbeat in the database, described for an operator."""
    if _engine(database_url) == "sqlite":
        path = sqlite_file_path(database_url)
        if path is None or not await asyncio.to_thread(Path(path).is_file):
            return []
    window = max(RUNNING_WITHIN, timedelta(seconds=3 * settings.worker_poll_seconds))
    database = Database.from_url(database_url)
    try:
        beats = await runners_seen_since(database, now - window)
    except (DBAPIError, OSError):  # a database never migrated (or not there) has no heartbeats, nobody runs on it
        return []
    finally:
        await database.dispose()
    return [
        f"{'API' if beat.mode == 'api' else 'worker'} pid {beat.pid} on {beat.hostname} "
        f"(last seen {max(0, round((now - beat.last_seen_at).total_seconds()))} s ago)"
        for beat in beats
    ]


async def restore_backup(settings: Settings, *, source: Path, force: bool = False) -> RestoreResult:
    """Verifies `source`, moves the database and media aside, puts the backup's in place, migrates to head."""
    engine = _engine(settings.database_url)
    database_path = sqlite_file_path(settings.database_url)
    if engine == "sqlite" and database_path is None:
        raise BackupProblem("restore needs a SQLite database file (DATABASE_URL)")
    if not await asyncio.to_thread(source.exists):
        raise BackupProblem(f"{source.name}: no such backup")
    now = utcnow()
    if not force and (running := await processes_running(settings.database_url, settings, now=now)):
        raise BackupProblem(
            "refusing to restore while these run against the database: " + "; ".join(running)
            + ". Stop them first (or, if they are gone for good, pass --force)"
        )
    stamp = f"{now:%Y%m%dT%H%M%SZ}"
    if engine == "postgresql":
        major = await _server_major(settings.database_url)
        manifest, set_aside = await asyncio.to_thread(
            _restore_postgres, source, settings.database_url, major, Path(settings.upload_dir), stamp
        )
    else:
        assert database_path is not None
        manifest, set_aside = await asyncio.to_thread(
            _restore_files, source, Path(database_path), Path(settings.upload_dir), stamp
        )
    # Alembic's env.py runs its own event loop: it needs a thread without one.
    await asyncio.to_thread(command.upgrade, alembic_config(settings.database_url), "head")
    revision = await _record_restored_run(settings.database_url, manifest)
    return RestoreResult(manifest=manifest, set_aside=set_aside, revision=revision)


def _engine(database_url: str) -> str:
    return "postgresql" if make_url(database_url).get_backend_name() == "postgresql" else "sqlite"


def _refuse_another_engine(manifest: Manifest, engine: str) -> None:
    if manifest.database.engine != engine:
        raise BackupProblem(
            f"this is a backup of a {manifest.database.engine} database and DATABASE_URL names a {engine} one: "
            "restore it onto its own engine, then move the data with `magnetiq db copy`"
        )


async def _server_major(database_url: str) -> int:
    database = Database.from_url(database_url)
    try:
        async with database.engine.connect() as connection:
            return int((await connection.execute(text("SHOW server_version_num"))).scalar_one()) // 10000
    except (DBAPIError, OSError) as exc:
        raise BackupProblem(f"the database did not answer ({type(exc).__name__}): create it and check DATABASE_URL") \
            from None
    finally:
        await database.dispose()


def _restore_postgres(
    source: Path, database_url: str, major: int, upload_dir: Path, stamp: str,
) -> tuple[Manifest, list[Path]]:
    """Verified first; the current database dumped aside and the media moved aside; then the one
    transaction that replaces the database, whose failure puts the media back and the dump away."""
    data_dir = upload_dir.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    with _unpacked(source, data_dir) as root:
        manifest = files.read_manifest(root)
        _refuse_another_engine(manifest, "postgresql")
        files.verify(root, manifest)
        name = make_url(database_url).database or "database"
        aside_database = data_dir / f"{name}.before-restore-{stamp}.dump"
        aside_media = upload_dir.with_name(f"{upload_dir.name}.before-restore-{stamp}")
        for aside in (aside_database, aside_media):
            if aside.exists():
                raise BackupProblem(f"{aside.name} exists already; wait a second and run the restore again")
        try:
            postgres_tools.dump(database_url, aside_database, server_major=major)
            moved = []
            if upload_dir.exists():
                os.replace(upload_dir, aside_media)
                moved.append((upload_dir, aside_media))
            try:
                upload_dir.mkdir(parents=True)
                for item in manifest.media:
                    files.link_or_copy(root / files.MEDIA_DIR / item.path, upload_dir / item.path)
                postgres_tools.restore(database_url, root / manifest.database.file, server_major=major)
            except BaseException:
                shutil.rmtree(upload_dir, ignore_errors=True)
                for current, aside in moved:
                    os.replace(aside, current)
                raise
        except ToolProblem as exc:
            aside_database.unlink(missing_ok=True)  # the database was left as it was: nothing to keep
            raise BackupProblem(exc.message) from None
        except BaseException:
            aside_database.unlink(missing_ok=True)
            raise
    return manifest, [aside_database, *(aside for _, aside in moved)]


@contextmanager
def _unpacked(source: Path, beside: Path) -> Iterator[Path]:
    """The backup's directory: `source` itself, or a .tar unpacked next to the database (same filesystem)."""
    if source.is_dir():
        yield source
        return
    staging = beside / f".restore-{uuid.uuid4().hex[:8]}"
    try:
        try:
            with tarfile.open(source) as archive:
                archive.extractall(staging, filter="data")  # no absolute paths, no links out, no devices
        except (tarfile.TarError, OSError) as exc:
            raise BackupProblem(f"{source.name} cannot be unpacked: {exc}") from None
        roots = [path for path in staging.iterdir() if (path / files.MANIFEST).is_file()]
        if len(roots) != 1:
            raise BackupProblem(f"{source.name} holds no single backup directory with a {files.MANIFEST}")
        yield roots[0]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore_files(source: Path, database: Path, upload_dir: Path, stamp: str) -> tuple[Manifest, list[Path]]:
    database.parent.mkdir(parents=True, exist_ok=True)
    with _unpacked(source, database.parent) as root:
        manifest = files.read_manifest(root)
        _refuse_another_engine(manifest, "sqlite")
        files.verify(root, manifest)
        staged = database.with_name(f".{database.name}.restoring-{uuid.uuid4().hex[:8]}")
        shutil.copyfile(root / manifest.database.file, staged)
        moved: list[tuple[Path, Path]] = []
        try:
            for suffix in ("", "-wal", "-shm"):
                current = Path(f"{database}{suffix}")
                if current.exists():
                    moved.append((current, Path(f"{database}.before-restore-{stamp}{suffix}")))
            if upload_dir.exists():
                moved.append((upload_dir, upload_dir.with_name(f"{upload_dir.name}.before-restore-{stamp}")))
            for _current, aside in moved:
                if aside.exists():
                    raise BackupProblem(f"{aside.name} exists already; wait a second and run the restore again")
            done: list[tuple[Path, Path]] = []
            try:
                for current, aside in moved:
                    os.replace(current, aside)
                    done.append((current, aside))
                staged.replace(database)
                upload_dir.mkdir(parents=True)
                for item in manifest.media:
                    files.link_or_copy(root / files.MEDIA_DIR / item.path, upload_dir / item.path)
            except BaseException:
                _put_back(database, upload_dir, done)
                raise
        finally:
            staged.unlink(missing_ok=True)
    return manifest, [aside for _, aside in moved]


def _put_back(database: Path, upload_dir: Path, moved: list[tuple[Path, Path]]) -> None:
    """A restore that failed halfway leaves things as they were."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(upload_dir, ignore_errors=True)
    for current, aside in reversed(moved):
        os.replace(aside, current)


async def _record_restored_run(database_url: str, manifest: Manifest) -> str | None:
    """The copy was taken while its own backup_runs row said `running`: it says what happened now.

    The runners that were beating then, and the jobs they held (the scheduled backup among them,
    for its two-hour lease), are the past's: nothing runs now, so they are cleared."""
    database = Database.from_url(database_url)
    try:
        async with database.session() as session:
            await session.exec(delete(WorkerHeartbeat))  # type: ignore[call-overload]
            await session.exec(update(JobSchedule).values(locked_by=None, locked_until=None))  # type: ignore[call-overload]
            if manifest.backup_run_id is not None:
                await _mark_succeeded(session, manifest=manifest)
        return await current_revision(database)
    finally:
        await database.dispose()


async def _mark_succeeded(session: AsyncSession, *, manifest: Manifest) -> None:
    run = await session.get(BackupRun, manifest.backup_run_id)
    if run is not None and run.status == "running":
        run.status, run.finished_at = "succeeded", manifest.created_at
        run.database_sha256, run.revision = manifest.database.sha256, manifest.revision
        run.size_bytes = manifest.database.size + manifest.media_bytes
        session.add(run)
