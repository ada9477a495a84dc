"""Each check of system health on its own, called with the app's real database (features/admin/checks.py)."""

import os
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from features.admin import checks
from features.admin.models import BackupRun
from features.admin.probes import SystemProbes, run_quick_check
from features.admin.service import latest_backup
from features.admin.tests.test_system_health import _backup, _disk
from shared.db import utcnow
from tests import engines


@pytest.mark.parametrize(("free_percent", "status"), [(50, "healthy"), (10, "healthy"), (9.9, "warning"),
                                                      (2, "warning"), (1.96, "unhealthy"), (1.9, "unhealthy")])
async def test_disk_is_a_warning_below_10_percent_free_and_unhealthy_below_2(settings, free_percent, status):
    Path(settings.upload_dir).mkdir(parents=True)
    asked = []

    def statvfs(path):
        asked.append((path, threading.get_ident()))
        return _disk(free_percent)

    check = await checks.check_disk(settings, SystemProbes(statvfs=statvfs))

    assert check.status == status and check.free_percent == round(free_percent, 1)
    assert check.free_bytes == int(1_000_000 * free_percent / 100) * 4096 and check.total_bytes == 4096 * 1_000_000
    # The data directory is the database file's on SQLite, UPLOAD_DIR's on PostgreSQL (the server's disk is
    # the server's); statvfs ran in a thread, off the event loop.
    measured = settings.upload_dir if engines.ON_POSTGRES else os.path.dirname(settings.database_url.split("///", 1)[1])
    assert asked == [(measured, asked[0][1])]
    assert check.filesystem_of == ("upload_dir" if engines.ON_POSTGRES else "database")
    assert asked[0][1] != threading.get_ident()


async def test_an_unwritable_upload_dir_is_unhealthy(settings, tmp_path):
    (tmp_path / "file").write_text("x")
    settings.upload_dir = str(tmp_path / "file" / "media")
    check = await checks.check_upload_dir(settings, SystemProbes())
    assert (check.status, check.writable) == ("unhealthy", False)


async def test_database_reports_size_wal_head_and_a_quick_check_kept_five_minutes(app):
    now = [utcnow()]
    probes = SystemProbes(clock=lambda: now[0])
    first = await checks.check_database(app.state.db, app.state.settings, probes)
    assert first.status == "healthy" and first.quick_check == "ok" and first.migrations_at_head is True
    assert first.engine == ("PostgreSQL" if engines.ON_POSTGRES else "SQLite") and first.version[0].isdigit()
    # PostgreSQL's WAL is the server's own: nothing to report of it here.
    assert first.size_bytes > 0 and (first.wal_bytes is None) == engines.ON_POSTGRES

    now[0] += timedelta(minutes=4)
    assert (await checks.check_database(app.state.db, app.state.settings, probes)).quick_check_at == first.quick_check_at
    now[0] += timedelta(minutes=2)
    assert (await checks.check_database(app.state.db, app.state.settings, probes)).quick_check_at == now[0]


async def test_a_quick_check_that_finds_a_problem_makes_the_database_unhealthy(app, tmp_path):
    broken = tmp_path / "broken.db"
    with sqlite3.connect(broken) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        connection.execute("CREATE INDEX ix_t_v ON t (v)")
        connection.executemany("INSERT INTO t (v) VALUES (?)", [(f"value {i:06}",) for i in range(5000)])
    data = bytearray(broken.read_bytes())
    root = sqlite3.connect(broken).execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_t_v'").fetchone()[0]
    page = 4096 * (root - 1)
    data[page + 8: page + 4096] = bytes(4096 - 8)  # the index's root page zeroed past its header
    broken.write_bytes(bytes(data))
    problem = run_quick_check(str(broken))
    assert problem != "ok"

    app.state.settings.database_url = f"sqlite+aiosqlite:///{broken}"  # only the quick_check reads this file
    check = await checks.check_database(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "unhealthy" and check.message == f"quick_check: {problem}"


async def test_a_long_quick_check_answers_running_and_its_result_comes_with_a_later_call(app):
    now, release = [utcnow()], threading.Event()
    probes = SystemProbes(quick_check_wait=0.05, clock=lambda: now[0])
    original = probes._quick_check_and_remember
    probes._quick_check_and_remember = lambda path: (release.wait(5), original(path))
    running = await checks.check_database(app.state.db, app.state.settings, probes)
    assert running.status == "healthy" and running.quick_check == "running" and running.quick_check_at is None
    release.set()
    later = None
    for _ in range(100):
        later = await checks.check_database(app.state.db, app.state.settings, probes)
        if later.quick_check == "ok":
            break
    assert later.quick_check == "ok" and later.quick_check_at == now[0]

    # Due again but slow: the last answer stands, with its time, until the new one ends.
    release.clear()
    done_at = now[0]
    now[0] += timedelta(minutes=6)
    again = await checks.check_database(app.state.db, app.state.settings, probes)
    assert (again.quick_check, again.quick_check_at) == ("ok", done_at)
    release.set()


async def test_a_schema_behind_head_makes_the_database_unhealthy(app):
    async with app.state.db.session() as session:
        await session.exec(text("DELETE FROM alembic_version"))
    check = await checks.check_database(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "unhealthy" and check.migrations_at_head is False and "db upgrade" in check.message


async def test_a_runner_without_a_recent_heartbeat_is_flagged_stale(app):
    from shared.jobs import WorkerHeartbeat

    async with app.state.db.session() as session:
        session.add(WorkerHeartbeat(worker_id="gone", hostname="h", pid=1, mode="standalone",
                                    last_seen_at=utcnow() - timedelta(minutes=20)))
    alone = await checks.check_workers(app.state.db, app.state.settings, SystemProbes())
    assert alone.status == "unhealthy" and [r.stale for r in alone.runners] == [True]

    async with app.state.db.session() as session:
        session.add(WorkerHeartbeat(worker_id="live", hostname="h", pid=2, mode="in-process"))
    mixed = await checks.check_workers(app.state.db, app.state.settings, SystemProbes())
    assert mixed.status == "warning" and mixed.message == "1 of 2 runners stale"
    assert {r.worker_id: r.stale for r in mixed.runners} == {"gone": True, "live": False}


async def test_mail_failed_for_good_in_the_last_day_is_a_warning(app):
    from shared.mail import OutgoingMail

    async with app.state.db.session() as session:
        session.add(OutgoingMail(recipient="a@example.com", subject="s", status="failed", attempts=5,
                                 last_error="x", last_error_at=utcnow() - timedelta(hours=2)))
        session.add(OutgoingMail(recipient="b@example.com", subject="s", status="failed", attempts=5,
                                 last_error="x", last_error_at=utcnow() - timedelta(days=3)))
        session.add(OutgoingMail(recipient="c@example.com", subject="s", next_attempt_at=utcnow() - timedelta(minutes=1)))
        session.add(OutgoingMail(recipient="d@example.com", subject="s", next_attempt_at=utcnow() + timedelta(hours=1)))
    check = await checks.check_queues(app.state.db, SystemProbes())
    assert check.status == "warning" and check.message == "1 mail failed for good in the last day"
    assert (check.mail.failed, check.mail.failed_last_day, check.mail.pending, check.mail.due) == (2, 1, 2, 1)


# --- backups --------------------------------------------------------------------------------------


async def test_no_backup_ever_without_backup_dir_is_a_warning_saying_so(app):
    check = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "warning" and "BACKUP_DIR is not set" in check.message and check.last_run is None


async def test_no_backup_yet_with_backup_dir_is_a_warning(app, tmp_path):
    app.state.settings.backup_dir = str(tmp_path / "backups")
    check = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert (check.status, check.message, check.scheduled) == ("warning", "no backup has run yet", True)
    assert str(tmp_path) not in check.model_dump_json()


async def test_a_recent_backup_is_healthy_and_one_older_than_twice_the_interval_a_warning(app, tmp_path):
    app.state.settings.backup_dir, app.state.settings.backup_interval_hours = str(tmp_path), 12
    await _backup(app, hours_ago=23)
    recent = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert recent.status == "healthy" and recent.last_success_age_hours == 23.0 and recent.last_run.name == "b"

    app.state.settings.backup_interval_hours = 11
    stale = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert stale.status == "warning" and "more than twice BACKUP_INTERVAL_HOURS" in stale.message


async def test_a_failed_last_backup_is_a_warning_even_after_an_earlier_success(app, tmp_path):
    app.state.settings.backup_dir = str(tmp_path)
    await _backup(app, hours_ago=5)
    await _backup(app, hours_ago=1, status="failed", error="disk full")
    check = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "warning" and check.message == "the last backup failed: disk full"
    assert check.last_run.status == "failed" and check.last_success_age_hours == 5.0


async def test_a_running_backup_after_a_recent_success_is_healthy(app, tmp_path):
    app.state.settings.backup_dir = str(tmp_path)
    await _backup(app, hours_ago=3)
    await _backup(app, hours_ago=0.01, status="running")
    check = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "healthy" and check.message.startswith("a backup is running; last succeeded 3.0 h ago")


async def test_manual_backups_without_backup_dir_follow_the_same_age_rule(app):
    await _backup(app, hours_ago=60)
    check = await checks.check_backups(app.state.db, app.state.settings, SystemProbes())
    assert check.status == "warning" and "(BACKUP_DIR is not set: no backup is scheduled)" in check.message


async def test_latest_backup_is_the_newest_row_or_the_newest_with_a_status(app):
    async with app.state.db.session(write=False) as session:
        assert await latest_backup(session) is None
    await _backup(app, hours_ago=2)
    await _backup(app, hours_ago=1, status="failed")
    async with app.state.db.session(write=False) as session:
        newest, newest_success = await latest_backup(session), await latest_backup(session, status="succeeded")
        stored = await session.get(BackupRun, newest_success.id)
    assert newest.status == "failed" and newest_success.status == "succeeded"
    assert stored.started_at == newest_success.started_at and newest.started_at > newest_success.started_at


async def test_smtp_is_healthy_when_the_server_answers_ehlo_and_noop(settings, smtp_server):
    recorder, port = smtp_server
    settings.smtp_port = port
    check = await checks.check_smtp(settings, SystemProbes())
    assert check.status == "healthy" and check.elapsed_ms is not None and check.port == port
    assert recorder.sessions == 1 and recorder.messages == []  # one EHLO, no mail sent


async def test_smtp_is_unhealthy_when_nothing_listens(settings):
    check = await checks.check_smtp(settings, SystemProbes())  # the test settings' port: nobody there
    assert check.status == "unhealthy" and check.message.startswith("connection failed")
