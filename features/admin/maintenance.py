"""Database upkeep by the worker: statistics, WAL size, free pages, and rows kept only as a record.

SQLite needs all of it from us. PostgreSQL's server checkpoints its own WAL and its autovacuum reclaims
dead rows (and analyzes past its thresholds): there the worker runs ANALYZE daily and prunes; the WAL
and VACUUM steps are the server's (server_does_its_own_upkeep)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth import api as auth_api
from shared.db import SQLITE_BUSY_TIMEOUT_MS, Database, queued_writers, sqlite_file_path
from shared.dialect import refresh_planner_statistics, run_on_driver_thread
from shared.jobs import MORE_WORK, JobContext, PeriodicJob, prune_idle_schedules
from shared.mail import prune_finished_mail
from shared.oauth import prune_expired_states

logger = logging.getLogger("magnetiq.maintenance")

PRUNE_BATCH = 500  # rows per transaction: a few milliseconds of write lock each
PRUNE_TURN_SECONDS = 2.0  # then the runner goes round (MORE_WORK) and other jobs get their turn
CHECKPOINT_BUSY_MS = 1000  # a checkpoint waits this long for readers, not the usual 15 s, then tries later
QUIET_POLL_SECONDS = 0.1


async def _on_own_connection(database: Database, body: Callable[[sqlite3.Connection], Any]) -> Any:
    """`body(connection)` on a pooled connection's driver thread, outside any transaction, no write turn."""
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return await run_on_driver_thread(raw.driver_connection, body)


async def _holding_write_turn(database: Database, body: Callable[[sqlite3.Connection], Any]) -> Any:
    async with database.driver_writer() as writer:
        return await writer.holding_write_turn(body)


# --- PRAGMA optimize -----------------------------------------------------------------------------


def _optimize(connection: sqlite3.Connection) -> None:
    # Bounded sampling keeps ANALYZE to milliseconds on any size. Older SQLite (before 3.46) analyzes
    # only what this connection queried, so a database never analyzed is analyzed outright once.
    connection.execute("PRAGMA analysis_limit=1000").close()
    if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        connection.execute("ANALYZE").close()
    connection.execute("PRAGMA optimize=0x10002").close()


def server_does_its_own_upkeep(database: Database) -> bool:
    """PostgreSQL: its checkpointer bounds the WAL and autovacuum reclaims free space, no job of ours."""
    return database.dialect == "postgresql"


async def optimize_database(context: JobContext) -> None:
    """Daily: the statistics the query planner needs refreshed: SQLite's PRAGMA optimize where they are
    stale, PostgreSQL's ANALYZE (sampled, a fraction of a second on tables this size)."""
    if server_does_its_own_upkeep(context.database):
        async with context.database.session() as session:
            await refresh_planner_statistics(session)
        return
    if sqlite_file_path(context.settings.database_url) is None:
        return
    await _holding_write_turn(context.database, _optimize)


# --- WAL checkpoint and VACUUM -------------------------------------------------------------------


@dataclass(frozen=True)
class Upkeep:
    wal_bytes_before: int
    checkpointed: bool
    free_ratio: float
    vacuumed: bool
    reason: str  # why VACUUM did or did not run


def _checkpoint(connection: sqlite3.Connection) -> bool:
    connection.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}").close()
    try:
        busy, _log, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}").close()
    return busy == 0


def _free_ratio(connection: sqlite3.Connection) -> tuple[float, int]:
    (free,) = connection.execute("PRAGMA freelist_count").fetchone()
    (pages,) = connection.execute("PRAGMA page_count").fetchone()
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    return (free / pages if pages else 0.0), pages * page_size


def _commits_seen(seconds: float) -> Callable[[sqlite3.Connection], int]:
    """How often other connections (any process) committed during `seconds`, polled every 100 ms."""

    def count(connection: sqlite3.Connection) -> int:
        changes, (last,) = 0, connection.execute("PRAGMA data_version").fetchone()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(QUIET_POLL_SECONDS)  # on the driver's thread: the event loop runs on
            (now,) = connection.execute("PRAGMA data_version").fetchone()
            changes, last = changes + (now != last), now
        return changes

    return count


def _vacuum(connection: sqlite3.Connection) -> None:
    connection.execute("VACUUM").close()
    _checkpoint(connection)  # VACUUM in WAL mode writes the whole new file into the WAL first


async def checkpoint_and_vacuum(context: JobContext) -> Upkeep | None:
    """Truncates a WAL past MAINTENANCE_WAL_CHECKPOINT_MB; VACUUMs when many pages are free and all is quiet.

    SQLite only: on PostgreSQL nothing (None), the server does both itself."""
    settings, database = context.settings, context.database
    if server_does_its_own_upkeep(database):
        return None
    path = sqlite_file_path(settings.database_url)
    if path is None:
        return None
    wal = Path(f"{path}-wal")
    wal_bytes = await asyncio.to_thread(lambda: wal.stat().st_size if wal.exists() else 0)
    checkpointed = False
    if wal_bytes > settings.maintenance_wal_checkpoint_mb * 1024 * 1024:
        checkpointed = await _holding_write_turn(database, _checkpoint)
    ratio, size = await _on_own_connection(database, _free_ratio)
    vacuumed, reason = False, "few free pages"
    if ratio >= settings.maintenance_vacuum_free_ratio:
        reason = await _why_not_vacuum(context, size)
        if reason == "quiet":
            started = time.monotonic()
            await _holding_write_turn(database, _vacuum)
            vacuumed, reason = True, f"quiet; took {time.monotonic() - started:.2f} s"
            logger.info("database vacuumed", extra={"free_ratio": round(ratio, 3), "bytes_before": size})
    return Upkeep(wal_bytes, checkpointed, round(ratio, 4), vacuumed, reason)


async def _why_not_vacuum(context: JobContext, size: int) -> str:
    settings = context.settings
    if size > settings.maintenance_vacuum_max_mb * 1024 * 1024:
        # VACUUM rewrites the file holding the write lock throughout: writers would wait too long.
        return "larger than MAINTENANCE_VACUUM_MAX_MB: run VACUUM by hand in a maintenance window"
    window = settings.maintenance_quiet_seconds
    commits = await _on_own_connection(context.database, _commits_seen(window))
    # Runners beat every few seconds, so a quiet database still sees a commit now and then.
    if commits > window or queued_writers():
        return f"busy: {commits} commits in {window} s"
    return "quiet"


# --- pruning -------------------------------------------------------------------------------------


async def prune_old_rows(context: JobContext) -> object:
    """Deletes in batches what is kept only as a record: old outbox mail, expired tokens, stale schedules."""
    settings, now = context.settings, context.clock()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    prunes: list[Callable[[AsyncSession], Awaitable[int]]] = [
        lambda s: prune_finished_mail(s, created_before=days(settings.retention_mail_days), limit=PRUNE_BATCH),
        lambda s: auth_api.prune_expired_tokens(
            s, expired_before=days(settings.retention_token_days), limit=PRUNE_BATCH
        ),
        lambda s: prune_expired_states(s, expired_before=days(settings.retention_token_days), limit=PRUNE_BATCH),
        lambda s: prune_idle_schedules(s, idle_since=days(settings.retention_job_days), limit=PRUNE_BATCH),
    ]
    deadline = time.monotonic() + PRUNE_TURN_SECONDS
    for prune in prunes:
        while True:
            async with context.database.session() as session:
                removed = await prune(session)
            if removed < PRUNE_BATCH:
                break
            if time.monotonic() > deadline:
                return MORE_WORK
    return None


MAINTENANCE_JOBS = (
    PeriodicJob(name="admin.optimize_database", interval=timedelta(days=1), run=optimize_database),
    PeriodicJob(name="admin.checkpoint_and_vacuum", interval=timedelta(minutes=10), run=checkpoint_and_vacuum),
    PeriodicJob(name="admin.prune_old_rows", interval=timedelta(hours=1), run=prune_old_rows),
)
