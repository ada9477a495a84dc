"""Database upkeep on the real engine: statistics (PRAGMA optimize, or ANALYZE), SQLite's WAL truncation and
VACUUM only when quiet (PostgreSQL's server does both), pruning on both."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from features.admin import maintenance
from features.admin.maintenance import checkpoint_and_vacuum, optimize_database, prune_old_rows
from features.admin.tests.databases import execute as execute_on
from features.admin.tests.databases import query
from shared.db import utcnow
from shared.jobs import MORE_WORK, JobContext, JobSchedule
from shared.mail import OUTBOX
from shared.oauth import OAuthState
from tests.factories import make_user


def database_file(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))


def rows(db: Path, sql: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(db, timeout=15)) as connection:
        return connection.execute(sql, params).fetchall()


def execute(db: Path, sql: str, params=()) -> None:
    with closing(sqlite3.connect(db, timeout=15)) as connection:
        if params and isinstance(params[0], tuple):
            connection.executemany(sql, params)
        else:
            connection.execute(sql, params)
        connection.commit()


def sql_time(value) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ")


@pytest.fixture
def context(app, settings) -> JobContext:
    return JobContext(database=app.state.db, settings=settings, mailer=app.state.mailer)


def fill_and_empty(db: Path, megabytes: int) -> None:
    blob = b"x" * 4000
    execute(db, "INSERT INTO mail_outbox (recipient, subject, message, status, attempts, next_attempt_at, created_at) "
                "VALUES ('a@example.com', 's', ?, 'sent', 1, '2026-01-01', '2026-01-01')",
            tuple((blob,) for _ in range(megabytes * 256)))
    execute(db, "DELETE FROM mail_outbox")
    execute(db, "PRAGMA wal_checkpoint(TRUNCATE)")


# --- PRAGMA optimize -----------------------------------------------------------------------------


@pytest.mark.sqlite_only  # PRAGMA optimize and sqlite_stat1; PostgreSQL's ANALYZE: the test after it
async def test_optimize_gives_the_query_planner_statistics(context, settings):
    db = database_file(settings)
    old = sql_time(utcnow())
    execute(db, MAIL, tuple((f"r{n}@x.example", "sent", old, old) for n in range(20)))
    assert not rows(db, "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")

    await optimize_database(context)

    tables = {table for (table,) in rows(db, "SELECT DISTINCT tbl FROM sqlite_stat1")}
    assert "mail_outbox" in tables


@pytest.mark.postgres_only
async def test_optimize_runs_analyze_on_postgresql(context, settings):
    old = utcnow() - timedelta(days=1)
    await insert_mail(settings, [(f"r{n}@x.example", "sent", old, old) for n in range(20)])
    last_analyze = "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'mail_outbox'"
    assert await query(settings.database_url, last_analyze) == [(False,)]

    await optimize_database(context)

    assert await query(settings.database_url, last_analyze) == [(True,)]


@pytest.mark.postgres_only
async def test_on_postgresql_the_wal_and_vacuum_are_left_to_the_server(context, settings):
    """No checkpoint or VACUUM of ours: the server checkpoints its WAL, autovacuum reclaims dead rows."""
    assert await query(settings.database_url, "SHOW autovacuum") == [("on",)]
    old = utcnow() - timedelta(days=1)
    await insert_mail(settings, [(f"r{n}@x.example", "sent", old, old) for n in range(50)])
    await execute_on(settings.database_url, "DELETE FROM mail_outbox")
    settings.maintenance_vacuum_free_ratio, settings.maintenance_quiet_seconds = 0.01, 1

    assert await checkpoint_and_vacuum(context) is None

    vacuums = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'mail_outbox'"
    assert await query(settings.database_url, vacuums) == [(0,)]


# --- WAL checkpoint ------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # SQLite's WAL and free pages; PostgreSQL's counterpart above
async def test_a_wal_past_its_limit_is_checkpointed_and_truncated_and_a_small_one_left(context, settings):
    db = database_file(settings)
    wal = Path(f"{db}-wal")
    with closing(sqlite3.connect(db)) as writer:  # held open: the last connection to close would checkpoint
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.executemany("INSERT INTO mail_outbox (recipient, subject, message, status, attempts, next_attempt_at, "
                           "created_at) VALUES ('a@example.com', 's', ?, 'sent', 1, '2026-01-01', '2026-01-01')",
                           ((b"y" * 4000,) for _ in range(600)))
        writer.commit()
        grown = wal.stat().st_size
        assert grown > 2 * 1024 * 1024

        settings.maintenance_wal_checkpoint_mb = 64
        left = await checkpoint_and_vacuum(context)
        assert not left.checkpointed and wal.stat().st_size == grown

        settings.maintenance_wal_checkpoint_mb = 1
        upkeep = await checkpoint_and_vacuum(context)
        assert upkeep.checkpointed and upkeep.wal_bytes_before == grown
        assert wal.stat().st_size == 0
    assert rows(db, "SELECT count(*) FROM mail_outbox") == [(600,)]


# --- VACUUM --------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # SQLite's WAL and free pages; PostgreSQL's counterpart above
async def test_vacuum_runs_when_many_pages_are_free_and_the_database_is_quiet(context, settings):
    db = database_file(settings)
    fill_and_empty(db, 4)
    settings.maintenance_quiet_seconds = 1
    before = db.stat().st_size

    upkeep = await checkpoint_and_vacuum(context)

    assert upkeep.free_ratio >= settings.maintenance_vacuum_free_ratio
    assert upkeep.vacuumed, upkeep.reason
    assert db.stat().st_size < before / 2
    assert rows(db, "PRAGMA freelist_count") == [(0,)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.sqlite_only  # SQLite's WAL and free pages; PostgreSQL's counterpart above
async def test_no_vacuum_while_others_keep_writing(context, settings):
    db = database_file(settings)
    fill_and_empty(db, 4)
    settings.maintenance_quiet_seconds = 1
    before = db.stat().st_size
    stop = threading.Event()

    def another_process_writing() -> None:
        with closing(sqlite3.connect(db, timeout=15)) as connection:
            while not stop.is_set():
                connection.execute("INSERT INTO cache_versions (namespace, version) VALUES ('x', 1) "
                                   "ON CONFLICT (namespace) DO UPDATE SET version = version + 1")
                connection.commit()
                time.sleep(0.02)

    thread = threading.Thread(target=another_process_writing)
    thread.start()
    try:
        upkeep = await checkpoint_and_vacuum(context)
    finally:
        stop.set()
        thread.join()

    assert not upkeep.vacuumed and upkeep.reason.startswith("busy")
    assert db.stat().st_size == before


@pytest.mark.sqlite_only  # SQLite's WAL and free pages; PostgreSQL's counterpart above
async def test_no_vacuum_with_few_free_pages_or_of_a_file_past_the_size_limit(context, settings):
    db = database_file(settings)
    assert (await checkpoint_and_vacuum(context)).reason == "few free pages"

    fill_and_empty(db, 4)
    settings.maintenance_vacuum_max_mb = 1
    upkeep = await checkpoint_and_vacuum(context)
    assert not upkeep.vacuumed and "MAINTENANCE_VACUUM_MAX_MB" in upkeep.reason


# --- pruning -------------------------------------------------------------------------------------

MAIL = ("INSERT INTO mail_outbox (recipient, subject, status, attempts, next_attempt_at, created_at) "
        "VALUES (?, 's', ?, 1, ?, ?)")


async def insert_mail(settings, mail: list[tuple]) -> None:
    """(recipient, status, next_attempt_at, created_at) rows, on a connection of their own, on either engine."""
    await execute_on(settings.database_url, insert(OUTBOX), [
        {"recipient": r, "subject": "s", "status": status, "attempts": 1, "next_attempt_at": due, "created_at": made}
        for r, status, due, made in mail
    ])


async def test_old_finished_mail_is_pruned_and_pending_or_recent_mail_kept(context, settings):
    old, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=29)
    await insert_mail(settings, [
        ("sent@x.example", "sent", old, old), ("failed@x.example", "failed", old, old),
        ("skipped@x.example", "skipped", old, old), ("pending@x.example", "pending", old, old),
        ("recent@x.example", "sent", recent, recent),
    ])

    assert await prune_old_rows(context) is None

    left = await query(settings.database_url, "SELECT recipient FROM mail_outbox")
    assert sorted(r for (r,) in left) == ["pending@x.example", "recent@x.example"]


async def test_tokens_expired_past_their_retention_are_pruned(app, context, settings):
    url = settings.database_url
    user = await make_user(app, email="u@example.com")
    long_ago, lately = utcnow() - timedelta(days=8), utcnow() - timedelta(days=6)
    live = utcnow() + timedelta(days=1)
    await execute_on(url, "INSERT INTO auth_refresh_tokens (jti, user_id, family_id, expires_at, created_at) "
                          "VALUES (:jti, :user, 'f', :at, :at)",
                     [{"jti": "gone", "user": user.id, "at": long_ago}, {"jti": "lately", "user": user.id, "at": lately},
                      {"jti": "live", "user": user.id, "at": live}])
    await execute_on(url, "INSERT INTO auth_password_reset_tokens (user_id, token_digest, expires_at, created_at) "
                          "VALUES (:user, :digest, :at, :at)",
                     [{"user": user.id, "digest": "d1", "at": long_ago}, {"user": user.id, "digest": "d2", "at": lately}])
    async with app.state.db.session() as session:
        for digest, expired in (("s-old", utcnow() - timedelta(days=8)), ("s-new", utcnow() - timedelta(days=1))):
            session.add(OAuthState(state_digest=digest, provider="x", redirect_uri="https://a.example/cb",
                                   expires_at=expired))

    await prune_old_rows(context)

    assert sorted(j for (j,) in await query(url, "SELECT jti FROM auth_refresh_tokens")) == ["lately", "live"]
    assert await query(url, "SELECT token_digest FROM auth_password_reset_tokens") == [("d2",)]
    assert await query(url, "SELECT state_digest FROM oauth_states") == [("s-new",)]


async def test_schedules_of_jobs_that_stopped_running_are_pruned(app, context, settings):
    now = utcnow()
    async with app.state.db.session() as session:
        session.add(JobSchedule(name="renamed_long_ago", next_run_at=now, last_started_at=now - timedelta(days=31)))
        session.add(JobSchedule(name="never_started", next_run_at=now - timedelta(days=31)))
        session.add(JobSchedule(name="running_now", next_run_at=now, last_started_at=now - timedelta(minutes=1)))
        session.add(JobSchedule(name="stuck_but_locked", next_run_at=now, last_started_at=now - timedelta(days=40),
                                locked_until=now + timedelta(hours=1)))

    await prune_old_rows(context)

    names = {name for (name,) in await query(settings.database_url, "SELECT name FROM job_schedules")}
    assert names == {"running_now", "stuck_but_locked"}


async def test_pruning_goes_in_batches_and_yields_when_its_turn_is_over(context, settings, monkeypatch):
    old = utcnow() - timedelta(days=40)
    await insert_mail(settings, [(f"r{n}@x.example", "sent", old, old) for n in range(1200)])
    monkeypatch.setattr(maintenance, "PRUNE_TURN_SECONDS", 0)

    assert await prune_old_rows(context) is MORE_WORK
    count = "SELECT count(*) FROM mail_outbox"
    assert await query(settings.database_url, count) == [(1200 - maintenance.PRUNE_BATCH,)]
    while await prune_old_rows(context) is MORE_WORK:
        pass
    assert await query(settings.database_url, count) == [(0,)]
