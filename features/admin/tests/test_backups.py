"""Backups and restore on the real engine (SQLite files, or a PostgreSQL cluster with pg_dump and pg_restore)
with real concurrent writers; scheduled backups with two runners."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tarfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import select

from features.admin.api import BackupProblem, restore_backup, take_backup
from features.admin.backups import SCHEDULED_BACKUP_JOB, prune_scheduled_backups
from features.admin.models import BackupRun
from features.admin.tests.databases import copy_rows, database_name, execute, query, sound
from shared.db import Database, PoolLimits, utcnow
from shared.jobs import JobContext, JobRunner, WorkerHeartbeat
from shared.mail import OUTBOX
from shared.migrations import head_revision
from tests import engines

WRITERS = 20
COPY = "magnetiq.dump" if engines.ON_POSTGRES else "magnetiq.db"  # the database copy's name in a backup


def put_media(settings, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = Path(settings.upload_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def seed_outbox(settings, count: int, size: int) -> None:
    """Bulk rows on a connection of their own (the backup has something to copy that takes a moment)."""
    blob, then = os.urandom(size), datetime(2026, 1, 1, tzinfo=UTC)
    await execute(settings.database_url, insert(OUTBOX), [
        {"recipient": f"seed{n}@example.com", "subject": "seed", "message": blob, "status": "sent", "attempts": 1,
         "next_attempt_at": then, "created_at": then} for n in range(count)
    ])


async def backup_runs(database: Database) -> list[BackupRun]:
    async with database.session(write=False) as session:
        return list((await session.exec(select(BackupRun).order_by(BackupRun.id))).all())


# --- the acceptance test: 20 writers, a backup, a restore ------------------------------------------


async def test_a_restored_backup_taken_under_20_writers_has_every_row_acknowledged_before_it_began(
    app, settings, tmp_path
):
    await seed_outbox(settings, 20_000, 1500)  # about 30 MB
    put_media(settings, {"a.png": b"png" * 100, "2026/b.pdf": b"%PDF" * 50})
    writers_db = Database.from_url(settings.database_url, pool=PoolLimits(size=WRITERS, max_overflow=0))
    acknowledged: list[str] = []
    commit_seconds: list[tuple[float, float]] = []  # (when it began, how long its commit took)
    stop = asyncio.Event()

    async def writer(number: int) -> None:
        n = 0
        while not stop.is_set():
            key = f"w{number}-{n}@example.com"
            began = time.monotonic()
            async with writers_db.session() as session:
                await session.exec(insert(OUTBOX).values(  # type: ignore[call-overload]
                    recipient=key, subject="live", status="pending", next_attempt_at=utcnow(), created_at=utcnow()
                ))
            acknowledged.append(key)  # the commit returned: what a 201 would have promised
            commit_seconds.append((began, time.monotonic() - began))
            n += 1
            await asyncio.sleep(0.001)

    lags: list[float] = []

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)] + [asyncio.create_task(ticker())]
    while len(acknowledged) < 200:
        await asyncio.sleep(0.01)
    await asyncio.sleep(1)  # a second of writing without a backup, to compare with
    acknowledged_before = set(acknowledged)
    began = time.monotonic()
    result = await take_backup(app.state.db, settings, target=tmp_path / "under-load", trigger="manual")
    ended = time.monotonic()
    written_during = sum(1 for start, _ in commit_seconds if began <= start <= ended)
    while len(acknowledged) < len(acknowledged_before) + written_during + 50:  # and writers carry on after
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*tasks)
    await writers_db.dispose()
    await app.state.db.dispose()

    stalls = sorted(seconds for start, seconds in commit_seconds if began <= start <= ended)
    usual = sorted(seconds for start, seconds in commit_seconds if began - 1 <= start < began)
    print(  # figures for the README (pytest -s)
        f"\nbackup of {result.manifest.database.size / 1e6:.1f} MB under {WRITERS} writers: {ended - began:.2f} s; "
        f"{written_during / (ended - began):.0f} commits/s during it (the second before: {len(usual)}), "
        f"slowest {stalls[-1] * 1000:.0f} ms (before: {usual[-1] * 1000:.0f}), median {stalls[len(stalls) // 2] * 1000:.0f} ms "
        f"(before: {usual[len(usual) // 2] * 1000:.0f}); event loop lag at most {max(lags) * 1000:.0f} ms"
    )
    assert written_during > 0, "writers were held up for the whole backup"

    restored = await restore_backup(settings, source=result.path)

    assert restored.revision == head_revision()
    present = {key for (key,) in await query(settings.database_url,
                                             "SELECT recipient FROM mail_outbox WHERE subject = 'live'")}
    assert acknowledged_before <= present, f"{len(acknowledged_before - present)} acknowledged rows lost"
    assert present <= set(acknowledged)
    if not engines.ON_POSTGRES:  # PostgreSQL's restore is one transaction: it committed whole or not at all
        assert await query(settings.database_url, "PRAGMA integrity_check") == [("ok",)]
    assert (Path(settings.upload_dir) / "2026" / "b.pdf").read_bytes() == b"%PDF" * 50
    assert restored.set_aside and all(path.exists() for path in restored.set_aside)


# --- what a backup holds --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nightly", "nightly.tar"])
async def test_a_backup_holds_the_database_media_and_a_manifest_that_vouches_for_them(app, settings, tmp_path, name):
    put_media(settings, {"a.png": b"a" * 10, "sub/b.pdf": b"b" * 20, ".incoming/upload-x": b"half"})

    result = await take_backup(app.state.db, settings, target=tmp_path / "out" / name, trigger="manual")

    root = tmp_path / "unpacked" / "nightly"
    if name.endswith(".tar"):
        with tarfile.open(result.path) as archive:
            archive.extractall(tmp_path / "unpacked", filter="data")
    else:
        root = result.path
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["revision"] == head_revision()
    assert [(m["path"], m["size"]) for m in manifest["media"]] == [("a.png", 10), ("sub/b.pdf", 20)]
    copy = root / COPY
    assert (manifest["database"]["engine"], manifest["database"]["file"]) == (engines.ENGINE, COPY)
    assert manifest["database"]["size"] == copy.stat().st_size
    import hashlib

    assert manifest["database"]["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert sound(copy)
    assert not list(tmp_path.joinpath("out").glob(".*")), "no staging left behind"
    (run,) = await backup_runs(app.state.db)
    assert (run.trigger, run.status, run.name) == ("manual", "succeeded", name)
    assert run.database_sha256 == manifest["database"]["sha256"] and run.revision == head_revision()
    assert run.size_bytes == result.size_bytes and run.finished_at is not None


async def test_a_backup_that_cannot_be_written_is_recorded_as_failed(app, settings, tmp_path):
    (tmp_path / "a-file").write_text("in the way")

    with pytest.raises(BackupProblem, match="cannot write the backup"):
        await take_backup(app.state.db, settings, target=tmp_path / "a-file" / "backup", trigger="manual")

    (run,) = await backup_runs(app.state.db)
    assert run.status == "failed" and "cannot write the backup" in run.error
    assert str(tmp_path) not in run.error


async def test_a_backup_refuses_a_name_that_exists(app, settings, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(BackupProblem, match="exists"):
        await take_backup(app.state.db, settings, target=tmp_path / "taken", trigger="manual")
    assert await backup_runs(app.state.db) == []


# --- restore -------------------------------------------------------------------------------------


async def _backup_then_change(app, settings, tmp_path) -> Path:
    put_media(settings, {"old.png": b"old"})
    result = await take_backup(app.state.db, settings, target=tmp_path / "b", trigger="manual")
    put_media(settings, {"new.png": b"new"})
    await seed_outbox(settings, 3, 10)
    return result.path


async def test_restore_keeps_the_current_database_and_media_aside_and_marks_its_own_run(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    await app.state.db.dispose()
    url = settings.database_url

    restored = await restore_backup(settings, source=backup)

    assert await query(url, "SELECT count(*) FROM mail_outbox") == [(0,)]
    assert sorted(p.name for p in Path(settings.upload_dir).iterdir()) == ["old.png"]
    # SQLite's file moved aside, or a pg_dump of the PostgreSQL database taken before it was replaced.
    aside_db = next(p for p in restored.set_aside if p.name.startswith(f"{database_name(url)}.before-restore-"))
    aside_media = next(p for p in restored.set_aside if p.name.startswith("media.before-restore-"))
    assert copy_rows(aside_db, "SELECT count(*) FROM mail_outbox") == [(3,)], "the database that was there is kept"
    assert sorted(p.name for p in aside_media.iterdir()) == ["new.png", "old.png"]
    # The copy was taken while its own run said `running`; restored, it says how that run ended.
    assert await query(url, "SELECT status, name FROM backup_runs") == [("succeeded", "b")]


async def test_restore_refuses_a_damaged_backup_and_leaves_everything_in_place(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    copy = backup / COPY
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match="SHA-256"):
        await restore_backup(settings, source=backup)

    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(3,)]
    assert not list(tmp_path.glob("*before-restore*"))


async def test_restore_refuses_a_backup_missing_a_media_file(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    (backup / "media" / "old.png").unlink()
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match=r"old\.png"):
        await restore_backup(settings, source=backup)
    assert (Path(settings.upload_dir) / "new.png").exists()


async def test_restore_refuses_while_a_process_beats_unless_forced(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    async with app.state.db.session() as session:
        session.add(WorkerHeartbeat(worker_id="web:7:x", hostname="web", pid=7, mode="api", jobs=[]))
        session.add(WorkerHeartbeat(
            worker_id="old:8:y", hostname="old", pid=8, mode="standalone", last_seen_at=utcnow() - timedelta(hours=1)
        ))
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match="API pid 7 on web") as refused:
        await restore_backup(settings, source=backup)
    assert "pid 8" not in refused.value.message, "a heartbeat an hour old is a process gone"
    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(3,)]

    await restore_backup(settings, source=backup, force=True)
    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(0,)]


async def test_restore_migrates_a_backup_from_an_older_revision_to_head(app, settings, tmp_path):
    from alembic import command

    from shared.migrations import alembic_config

    backup = await _backup_then_change(app, settings, tmp_path)
    await app.state.db.dispose()
    if engines.ON_POSTGRES:  # a database of its own, cloned from this test's (nothing is connected to it now)
        old_name = engines.clone(database_name(settings.database_url))
        old_url = engines.database_url(old_name)
    else:
        old = tmp_path / "old.db"
        with closing(sqlite3.connect(backup / COPY)) as src, closing(sqlite3.connect(old)) as dst:
            src.backup(dst)
        old_url = f"sqlite+aiosqlite:///{old}"
    try:
        await asyncio.to_thread(command.downgrade, alembic_config(old_url), "-1")
        older = settings.model_copy(update={"database_url": old_url})
        old_database = Database.from_url(older.database_url)
        try:
            older_backup = await take_backup(old_database, older, target=tmp_path / "o.tar", trigger="manual")
        finally:
            await old_database.dispose()
    finally:
        if engines.ON_POSTGRES:
            engines.drop(old_name)
    assert older_backup.manifest.revision != head_revision()

    restored = await restore_backup(settings, source=older_backup.path)

    assert restored.revision == head_revision()
    assert await query(settings.database_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


# --- the schedule --------------------------------------------------------------------------------


def _context(app, settings, database=None, clock=None) -> JobContext:
    return JobContext(database=database or app.state.db, settings=settings, mailer=app.state.mailer,
                      clock=clock or utcnow)


async def test_two_runners_never_back_up_at_once(app, settings, tmp_path):
    settings.backup_dir = str(tmp_path / "scheduled")
    second_process = Database.from_url(settings.database_url)
    runners = [
        JobRunner(_context(app, settings), [SCHEDULED_BACKUP_JOB], mode="standalone"),
        JobRunner(_context(app, settings, second_process), [SCHEDULED_BACKUP_JOB], mode="standalone"),
    ]
    try:
        ran = await asyncio.gather(*(runner.run_due_jobs() for runner in runners))
    finally:
        await second_process.dispose()

    assert sorted(map(len, ran)) == [0, 1]
    assert len(list(Path(settings.backup_dir).iterdir())) == 1
    (run,) = await backup_runs(app.state.db)
    assert (run.trigger, run.status) == ("scheduled", "succeeded")
    assert run.name.startswith("scheduled-")


async def test_scheduled_backups_come_every_interval_and_keep_only_backup_keep(app, settings, tmp_path):
    settings.backup_dir, settings.backup_keep, settings.backup_interval_hours = str(tmp_path / "s"), 2, 6
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "by-hand").mkdir()  # an operator's own backup there is never pruned
    now = [utcnow()]
    context = _context(app, settings, clock=lambda: now[0])

    made = []
    for hours in (0, 1, 6, 12, 18):
        now[0] = now[0] + timedelta(hours=hours) if hours else now[0]
        await SCHEDULED_BACKUP_JOB.run(context)
        made.append(len(await backup_runs(app.state.db)))

    assert made == [1, 1, 2, 3, 4]  # 1 h later nothing was due
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert len(names) == 3 and "by-hand" in names
    newest = sorted(r.name for r in await backup_runs(app.state.db))[-2:]
    assert sorted(n for n in names if n != "by-hand") == newest


async def test_no_scheduled_backup_without_backup_dir(app, settings):
    assert settings.backup_dir == ""
    await SCHEDULED_BACKUP_JOB.run(_context(app, settings))
    assert await backup_runs(app.state.db) == []


def test_pruning_leaves_what_the_scheduler_did_not_make(tmp_path):
    for name in ("scheduled-20260101T000000Z", "scheduled-20260102T000000Z", "scheduled-20260103T000000Z",
                 "scheduled-20260101T000000Z.tar", "mine", "scheduled-notatime"):
        (tmp_path / name).mkdir()

    assert prune_scheduled_backups(tmp_path, keep=1) == ["scheduled-20260102T000000Z", "scheduled-20260101T000000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine", "scheduled-20260101T000000Z.tar", "scheduled-20260103T000000Z", "scheduled-notatime",
    ]


async def test_a_failed_scheduled_backup_is_tried_again_after_an_hour_not_a_whole_interval(app, settings, tmp_path):
    (tmp_path / "not-a-dir").write_text("in the way")
    settings.backup_dir = str(tmp_path / "not-a-dir")
    now = [utcnow()]
    context = _context(app, settings, clock=lambda: now[0])

    with pytest.raises(BackupProblem):
        await SCHEDULED_BACKUP_JOB.run(context)
    now[0] += timedelta(minutes=30)
    await SCHEDULED_BACKUP_JOB.run(context)  # not due yet: nothing tried, nothing raised
    assert [r.status for r in await backup_runs(app.state.db)] == ["failed"]

    settings.backup_dir = str(tmp_path / "fixed")
    now[0] += timedelta(minutes=31)
    await SCHEDULED_BACKUP_JOB.run(context)
    assert [r.status for r in await backup_runs(app.state.db)] == ["failed", "succeeded"]


async def test_a_restored_scheduled_backup_holds_no_runner_or_claim_of_the_past(app, settings, tmp_path):
    settings.backup_dir = str(tmp_path / "s")
    runner = JobRunner(_context(app, settings), [SCHEDULED_BACKUP_JOB], mode="standalone")
    assert await runner.run_due_jobs() == [SCHEDULED_BACKUP_JOB.name]  # beat, claimed, backed up while claimed
    (backup,) = Path(settings.backup_dir).iterdir()
    copy = backup / COPY
    assert copy_rows(copy, "SELECT count(*) FROM worker_heartbeats") == [(1,)]
    assert copy_rows(copy, "SELECT CAST(locked_by IS NOT NULL AS INTEGER) FROM job_schedules") == [(1,)]
    await app.state.db.dispose()

    await restore_backup(settings, source=backup, force=True)  # the runner above never stopped

    url = settings.database_url
    assert await query(url, "SELECT count(*) FROM worker_heartbeats") == [(0,)]
    assert await query(url, "SELECT locked_by, locked_until FROM job_schedules") == [(None, None)]
    assert await query(url, "SELECT trigger, status FROM backup_runs") == [("scheduled", "succeeded")]


async def test_restore_refuses_a_manifest_naming_a_file_outside_the_backup(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["media"].append({"path": "../../etc/passwd", "size": 1})
    (backup / "manifest.json").write_text(json.dumps(manifest))
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match="not a valid manifest"):
        await restore_backup(settings, source=backup)
    assert (Path(settings.upload_dir) / "new.png").exists()


async def test_restore_refuses_a_backup_of_the_other_engine_and_leaves_everything_in_place(app, settings, tmp_path):
    backup = await _backup_then_change(app, settings, tmp_path)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["database"]["engine"] = "sqlite" if engines.ON_POSTGRES else "postgresql"
    (backup / "manifest.json").write_text(json.dumps(manifest))
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match="magnetiq db copy"):
        await restore_backup(settings, source=backup)
    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(3,)]
    assert not list(tmp_path.glob("*before-restore*"))


def test_postgresql_programs_are_given_the_connection_and_its_password_by_environment_only():
    from features.admin.postgres_tools import libpq_environment

    environment = libpq_environment("postgresql+asyncpg://app:s3cret@db.example:5433/magnetiq?ssl=require")

    assert {key: environment[key] for key in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE")} \
        == {"PGHOST": "db.example", "PGPORT": "5433", "PGUSER": "app", "PGPASSWORD": "s3cret",
            "PGDATABASE": "magnetiq", "PGSSLMODE": "require"}


# --- PostgreSQL's restore: one transaction -------------------------------------------------------


def _vouch_for(backup: Path) -> None:
    """The manifest rewritten to match the copy as it now is (damage the SHA-256 would not see)."""
    import hashlib

    manifest = json.loads((backup / "manifest.json").read_text())
    copy = backup / manifest["database"]["file"]
    manifest["database"].update(size=copy.stat().st_size, sha256=hashlib.sha256(copy.read_bytes()).hexdigest())
    (backup / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.postgres_only
async def test_a_dump_that_breaks_off_while_loading_changes_nothing(app, settings, tmp_path):
    """pg_restore fails halfway through the data: psql never gets the COMMIT, the server rolls back."""
    await seed_outbox(settings, 2000, 2000)  # data blocks past the table of contents and the schema
    backup = await _backup_then_change(app, settings, tmp_path)
    copy = backup / COPY
    copy.write_bytes(copy.read_bytes()[: copy.stat().st_size * 2 // 3])
    _vouch_for(backup)
    await app.state.db.dispose()

    with pytest.raises(BackupProblem, match="nothing was changed"):
        await restore_backup(settings, source=backup)

    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(2003,)]
    assert sorted(p.name for p in Path(settings.upload_dir).iterdir()) == ["new.png", "old.png"]
    assert not list(tmp_path.glob("*before-restore*"))


@pytest.mark.postgres_only
async def test_a_restore_kept_from_a_table_by_another_session_gives_up_and_changes_nothing(
    app, settings, tmp_path, monkeypatch
):
    from features.admin import postgres_tools

    backup = await _backup_then_change(app, settings, tmp_path)
    await app.state.db.dispose()
    monkeypatch.setattr(postgres_tools, "LOCK_WAIT", "200ms")
    holder = Database.from_url(settings.database_url)
    try:
        async with holder.session() as session:  # a transaction left open on the table: DROP must wait for it
            await session.exec(select(BackupRun))
            with pytest.raises(BackupProblem, match="lock timeout"):
                await restore_backup(settings, source=backup)
    finally:
        await holder.dispose()

    assert await query(settings.database_url, "SELECT count(*) FROM mail_outbox") == [(3,)]
    assert sorted(p.name for p in Path(settings.upload_dir).iterdir()) == ["new.png", "old.png"]
    assert not list(tmp_path.glob("*before-restore*"))
