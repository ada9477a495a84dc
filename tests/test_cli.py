"""The `magnetiq` console script, with settings in the environment as operators give them.

Commands run in this process through the script's entry point (`Workspace.call`: the same
environment, working directory, output and exit status, without paying for a new interpreter
each time; a server or worker started by mistake is an error there, not a process that never
ends). Whatever needs a process of its own (serving, working, the mail sink, signals) runs the
real script (`Workspace.run`, `subprocess.Popen`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic import command as alembic_command

from magnetiq import cli
from shared import security
from shared.config import DEV_SECRET_KEY, MIN_PRODUCTION_SECRET_LENGTH, Settings
from shared.jobs import JobRunner
from shared.migrations import alembic_config, head_revision
from tests.factories import free_port

MAGNETIQ = Path(sys.executable).parent / "magnetiq"
COMMAND_TIMEOUT = 60
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "a-long-unique-passphrase"
WORKER_DEADLINE = 30.0  # generous: CI shares two cores with the rest of the suite
APP_TABLES = {
    "admin_users", "auth_refresh_tokens", "auth_failed_logins", "auth_password_reset_tokens",
    "job_schedules", "worker_heartbeats", "mail_outbox",
}


@dataclass(frozen=True)
class Workspace:
    """A directory with its own database file, media directory and environment for the CLI."""

    root: Path
    db: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT, **env: str) -> subprocess.CompletedProcess[str]:
        """The console script in a process of its own."""
        return subprocess.run(
            [str(MAGNETIQ), *args], cwd=self.root, env={**self.env, **env},
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def call(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """What `run` gives, from the script's entry point called in this process."""
        stdout, stderr = io.StringIO(), io.StringIO()
        with _like_a_new_process(self.root, {**self.env, **env}), redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                cli.main(list(args))
                returncode = 0
            except SystemExit as exit_:
                returncode = _exit_status(exit_.code)
            except Exception:
                traceback.print_exc()
                returncode = 1
        return subprocess.CompletedProcess([str(MAGNETIQ), *args], returncode, stdout.getvalue(), stderr.getvalue())


def _started(what: str):
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"the command started {what} instead of refusing")

    return refuse


def _exit_status(code: object) -> int:
    """What the interpreter makes of `sys.exit(code)`: None is 0, a message goes to stderr with status 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


@contextmanager
def _like_a_new_process(cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """This process as a new one would start: only `env` in the environment, `cwd` as its directory
    (no .env of the caller's), logging unconfigured; the password hashing it picks is put back after.
    Serving and running jobs raise: a command that should have refused to start fails at once."""
    saved_env, saved_cwd, saved_hasher = dict(os.environ), Path.cwd(), security._hasher
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    root.handlers[:], root.level = [], logging.WARNING
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(uvicorn, "run", _started("a server"))
            patch.setattr(JobRunner, "run_forever", _started("the worker"))
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        root.handlers[:], root.level = saved_handlers, saved_level
        security._hasher = saved_hasher


def make_workspace(root: Path, db: Path | None = None) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    db = db or root / "cli.db"
    # Nothing of the caller's configuration leaks in (Settings reads variables case-insensitively).
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{db}", UPLOAD_DIR=str(root / "media"), ENVIRONMENT="test")
    return Workspace(root=root, db=db, env=env)


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(db, timeout=5)) as connection:
        return connection.execute(sql, params).fetchall()


def copy_database(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Non-zero exit, one clear message on stderr naming the problem, no traceback."""
    assert result.returncode != 0, f"expected failure, got 0; stdout={result.stdout!r} stderr={result.stderr!r}"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("magnetiq: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def table_names(db: Path) -> set[str]:
    return {name for (name,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture(scope="session", autouse=True)
def console_script_exists() -> None:
    assert MAGNETIQ.exists(), f"console script not found next to the interpreter: {MAGNETIQ}"


@dataclass(frozen=True)
class Seeded:
    workspace: Workspace
    create_admin: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A database migrated and given its first admin by the CLI, shared by tests that do not change it."""
    workspace = make_workspace(tmp_path_factory.mktemp("seeded"))
    upgrade = workspace.call("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    created = workspace.call(
        "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, "--first-name", "Ada", "--last-name", "Admin"
    )
    return Seeded(workspace=workspace, create_admin=created)


# --- help and db upgrade -----------------------------------------------------------------------


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = make_workspace(tmp_path).call("--help")
    assert result.returncode == 0, result.stderr
    for name in ("serve", "db", "create-admin", "worker", "backup", "restore", "mail-sink"):
        assert name in result.stdout


def test_db_upgrade_creates_the_database_at_head(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, db=tmp_path / "data" / "cli.db")  # a parent directory that does not exist

    result = workspace.call("db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert workspace.db.exists()
    assert query(workspace.db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert table_names(workspace.db) >= APP_TABLES

    again = workspace.call("db", "upgrade")  # every deploy runs it; a database at head is left alone
    assert again.returncode == 0, again.stderr
    assert query(workspace.db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


# --- create-admin -------------------------------------------------------------------------------


def test_create_admin_stores_an_active_admin(seeded: Seeded) -> None:
    result = seeded.create_admin
    assert result.returncode == 0, result.stderr
    assert ADMIN_EMAIL in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr

    rows = query(
        seeded.workspace.db,
        "SELECT role, first_name, last_name, is_active, deleted_at, hashed_password FROM admin_users WHERE email = ?",
        ADMIN_EMAIL,
    )
    assert len(rows) == 1
    role, first_name, last_name, is_active, deleted_at, hashed_password = rows[0]
    assert (role, first_name, last_name, is_active, deleted_at) == ("ADMIN", "Ada", "Admin", 1, None)
    assert hashed_password.startswith("$argon2")
    assert ADMIN_PASSWORD not in hashed_password


@pytest.mark.parametrize("password", ["short-pw", "elevenchars"])
def test_create_admin_refuses_a_short_password(seeded: Seeded, password: str) -> None:
    email = f"{password}@example.com"
    result = seeded.workspace.call("create-admin", "--email", email, "--password", password)

    assert_refused(result, "12 characters")
    assert query(seeded.workspace.db, "SELECT count(*) FROM admin_users WHERE email = ?", email) == [(0,)]


@pytest.mark.parametrize("email", [ADMIN_EMAIL, "  Admin@Example.COM "])
def test_create_admin_refuses_a_duplicate_email(seeded: Seeded, email: str) -> None:
    result = seeded.workspace.call("create-admin", "--email", email, "--password", "another-long-passphrase")

    assert_refused(result, "already exists")
    assert query(seeded.workspace.db, "SELECT count(*) FROM admin_users") == [(1,)]


# --- production secret --------------------------------------------------------------------------

COMMANDS = {
    "db upgrade": ["db", "upgrade"],
    "create-admin": ["create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
    "worker": ["worker"],
    "backup": ["backup", "backup.db"],
    "serve": ["serve", "--port", "1"],  # would fail to bind if it ever got that far
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_production_refuses_the_default_secret_key(tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)

    result = workspace.call(*COMMANDS[command], ENVIRONMENT="production")

    assert_refused(result, "SECRET_KEY")
    assert DEV_SECRET_KEY not in result.stderr
    assert not workspace.db.exists(), "refused configuration must not touch the database"


@pytest.mark.parametrize("secret_key", ["too-short", "x" * (MIN_PRODUCTION_SECRET_LENGTH - 1)])
def test_production_refuses_a_weak_secret_key(tmp_path: Path, secret_key: str) -> None:
    workspace = make_workspace(tmp_path)

    result = workspace.call("db", "upgrade", ENVIRONMENT="production", SECRET_KEY=secret_key)

    assert_refused(result, "SECRET_KEY")
    assert secret_key not in result.stderr, "the refused key itself must not be printed"
    assert not workspace.db.exists()


@pytest.mark.parametrize("length", [MIN_PRODUCTION_SECRET_LENGTH, 48])
def test_production_accepts_a_long_random_secret_key(tmp_path: Path, length: int) -> None:
    workspace = make_workspace(tmp_path)
    secret_key = secrets.token_urlsafe(length)[:length]
    assert len(secret_key) == length

    result = workspace.call("db", "upgrade", ENVIRONMENT="production", SECRET_KEY=secret_key)

    assert result.returncode == 0, result.stderr
    assert query(workspace.db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_production_refuses_to_start_without_a_token_encryption_key(tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)

    result = workspace.run(*COMMANDS[command], timeout=30, ENVIRONMENT="production", SECRET_KEY=secrets.token_urlsafe(48))

    assert_refused(result, "TOKEN_ENCRYPTION_KEY")


# --- serve and worker need the schema at head ------------------------------------------------------

SCHEMA_USERS = ["serve", "worker"]


@pytest.mark.parametrize("command", SCHEMA_USERS)
def test_refuses_to_run_on_a_database_file_that_does_not_exist(tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)

    result = workspace.call(*COMMANDS[command])

    assert_refused(result, "never been migrated", "magnetiq db upgrade")
    assert not workspace.db.exists(), "a refusal must not create the database file"


@pytest.mark.parametrize("command", SCHEMA_USERS)
def test_refuses_to_run_on_a_database_never_migrated(tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)
    query(workspace.db, "CREATE TABLE notes (body TEXT)")  # a database, but no Alembic revision in it

    result = workspace.call(*COMMANDS[command])

    assert_refused(result, "never been migrated", "magnetiq db upgrade")


@pytest.mark.parametrize("command", SCHEMA_USERS)
def test_refuses_to_run_on_a_database_one_revision_behind(seeded: Seeded, tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)
    copy_database(seeded.workspace.db, workspace.db)
    alembic_command.downgrade(alembic_config(workspace.env["DATABASE_URL"]), "-1")
    (behind,) = query(workspace.db, "SELECT version_num FROM alembic_version")[0]
    assert behind != head_revision()

    result = workspace.call(*COMMANDS[command])

    assert_refused(result, behind, head_revision(), "magnetiq db upgrade")
    assert query(workspace.db, "SELECT version_num FROM alembic_version") == [(behind,)], "nothing migrated behind our back"


def test_serve_at_head_starts_and_reports_healthy(seeded: Seeded, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    copy_database(seeded.workspace.db, workspace.db)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MAGNETIQ), "serve", "--port", str(port)], cwd=workspace.root,
            env={**workspace.env, "WORKER_ENABLED": "false"}, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + WORKER_DEADLINE
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}:\n{log_path.read_text()}"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not answer within {WORKER_DEADLINE} s"
                time.sleep(0.1)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "healthy"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log_path.read_text()


def test_serve_gives_replacement_workers_time_to_import_the_app(seeded: Seeded, tmp_path: Path) -> None:
    """With --workers, uvicorn's supervisor kills a worker that does not answer its health check in
    time; its default 5 s killed the replacement of a killed worker while it was still importing."""
    workspace = make_workspace(tmp_path)
    copy_database(seeded.workspace.db, workspace.db)
    given: dict[str, object] = {}

    def record(app: str, **options: object) -> None:
        given.update(options, app=app)

    with _like_a_new_process(workspace.root, workspace.env), pytest.MonkeyPatch.context() as patch:
        patch.setattr(uvicorn, "run", record)
        cli.main(["serve", "--workers", "2"])

    app = given.pop("app")
    config = uvicorn.Config(app, **given)  # type: ignore[arg-type]  # the options this uvicorn knows
    assert config.workers == 2
    assert config.timeout_worker_healthcheck >= 30


# --- backup ------------------------------------------------------------------------------------


def test_backup_writes_a_verified_copy_with_the_admin_media_and_manifest(seeded: Seeded) -> None:
    source = seeded.workspace.db
    media = seeded.workspace.root / "media"
    (media / "2026").mkdir(parents=True, exist_ok=True)
    (media / "2026" / "logo.png").write_bytes(b"png")
    target = seeded.workspace.root / "backups" / "nightly"  # the parent directory is created

    result = seeded.workspace.call("backup", str(target))

    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout and "integrity_check ok" in result.stdout
    copy = target / "magnetiq.db"
    for db in (copy, source):
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        assert query(db, "SELECT email, role FROM admin_users") == [(ADMIN_EMAIL, "ADMIN")]
        assert query(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert table_names(copy) == table_names(source)
    assert (target / "media" / "2026" / "logo.png").read_bytes() == b"png"
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["revision"] == head_revision()
    assert manifest["media"] == [{"path": "2026/logo.png", "size": 3}]
    assert manifest["database"]["sha256"] in result.stdout
    assert query(source, "SELECT trigger, status, name FROM backup_runs WHERE name = 'nightly'") == [
        ("manual", "succeeded", "nightly")
    ]


def test_backup_into_a_tar_restores_onto_a_fresh_machine(seeded: Seeded, tmp_path: Path) -> None:
    (seeded.workspace.root / "media").mkdir(exist_ok=True)
    (seeded.workspace.root / "media" / "cover.jpg").write_bytes(b"jpg")
    archive = tmp_path / "carried" / "magnetiq-backup.tar"
    assert seeded.workspace.call("backup", str(archive)).returncode == 0
    fresh = make_workspace(tmp_path / "fresh", db=tmp_path / "fresh" / "data" / "magnetiq.db")

    result = fresh.call("restore", str(archive))

    assert result.returncode == 0, result.stderr
    assert f"now at revision {head_revision()}" in result.stdout
    assert "kept aside" not in result.stdout  # nothing was there to keep
    assert query(fresh.db, "SELECT email FROM admin_users") == [(ADMIN_EMAIL,)]
    assert (fresh.root / "media" / "cover.jpg").read_bytes() == b"jpg"
    assert archive.exists(), "the backup itself is left as it was"


def test_restore_refuses_a_damaged_backup_with_a_clear_message(seeded: Seeded, tmp_path: Path) -> None:
    backup = tmp_path / "b"
    assert seeded.workspace.call("backup", str(backup)).returncode == 0
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["database"]["sha256"] = "0" * 64
    (backup / "manifest.json").write_text(json.dumps(manifest))
    workspace = make_workspace(tmp_path / "w")

    result = workspace.call("restore", str(backup))

    assert_refused(result, "restore refused", "SHA-256")
    assert not workspace.db.exists()


def test_restore_refuses_while_an_api_process_without_the_worker_runs(seeded: Seeded, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    copy_database(seeded.workspace.db, workspace.db)
    backup = tmp_path / "b"
    assert workspace.call("backup", str(backup)).returncode == 0
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MAGNETIQ), "serve", "--port", str(port)], cwd=workspace.root,
            env={**workspace.env, "WORKER_ENABLED": "false", "WORKER_POLL_SECONDS": "0.2"},
            stdout=log, stderr=subprocess.STDOUT,
        )
    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, WORKER_DEADLINE, process, "answer")  # its first request opens the database
        wait_until(lambda: query(workspace.db, "SELECT mode FROM worker_heartbeats WHERE pid = ?", process.pid),
                   WORKER_DEADLINE, process, "record a heartbeat")

        refused = workspace.call("restore", str(backup))

        assert_refused(refused, "restore refused", f"API pid {process.pid}", "--force")
        assert not list(tmp_path.glob("*before-restore*"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    # Stopped cleanly, it took its heartbeat with it: the restore goes ahead.
    restored = workspace.call("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "kept aside" in restored.stdout


def test_backup_refuses_to_overwrite_an_existing_file(seeded: Seeded) -> None:
    target = seeded.workspace.root / "precious.db"
    target.write_bytes(b"not to be overwritten")

    result = seeded.workspace.call("backup", str(target))

    assert_refused(result, "exists")
    assert target.read_bytes() == b"not to be overwritten"


def test_backup_refuses_without_a_database(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)

    result = workspace.call("backup", str(tmp_path / "copy.db"))

    assert_refused(result, "DATABASE_URL")
    assert not (tmp_path / "copy.db").exists()
    assert not workspace.db.exists()


# --- worker ------------------------------------------------------------------------------------


@pytest.fixture
def worker_workspace(seeded: Seeded, tmp_path: Path) -> Workspace:
    workspace = make_workspace(tmp_path)
    copy_database(seeded.workspace.db, workspace.db)  # its own database: the worker writes
    return workspace


@pytest.fixture
def worker(worker_workspace: Workspace, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "worker.log").open("wb")  # a file, not a pipe: a full pipe would block the worker
    process = subprocess.Popen(
        [str(MAGNETIQ), "worker"], cwd=worker_workspace.root, env={**worker_workspace.env, "WORKER_POLL_SECONDS": "0.2"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def wait_until(condition, timeout: float, process: subprocess.Popen[bytes], what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"worker exited early with {process.returncode} while waiting for {what}"
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"worker did not {what} within {timeout} s")


def test_worker_beats_runs_jobs_and_stops_cleanly_on_sigterm(
    worker: subprocess.Popen[bytes], worker_workspace: Workspace, tmp_path: Path
) -> None:
    db = worker_workspace.db

    def heartbeat() -> list[tuple]:
        return query(db, "SELECT worker_id, mode, jobs FROM worker_heartbeats WHERE pid = ?", worker.pid)

    beats = wait_until(heartbeat, WORKER_DEADLINE, worker, "record a heartbeat")
    assert len(beats) == 1
    worker_id, mode, jobs = beats[0]
    assert mode == "standalone"
    expected_jobs = set(json.loads(jobs))
    assert {"deliver_mail", "publish_due_pages"} <= expected_jobs

    def finished_jobs() -> dict[str, str]:
        # A job's schedule row appears when it is first claimed, so wait for every job, not every row.
        rows = dict(query(db, "SELECT name, last_finished_at FROM job_schedules WHERE last_finished_at IS NOT NULL"))
        return rows if set(rows) >= expected_jobs else {}

    finished = wait_until(finished_jobs, WORKER_DEADLINE, worker, "finish every job")
    assert set(finished) == expected_jobs
    # deliver_mail is due on every poll, so it runs again within a few polls
    wait_until(lambda: finished_jobs().get("deliver_mail", "") > finished["deliver_mail"], WORKER_DEADLINE, worker, "poll again")

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0

    output = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in output, output
    assert "worker stopped" in output
    assert query(db, "SELECT count(*) FROM worker_heartbeats WHERE worker_id = ?", worker_id) == [(0,)]
    assert query(db, "SELECT count(*) FROM job_schedules WHERE locked_by IS NOT NULL") == [(0,)]


# --- mail-sink ---------------------------------------------------------------------------------


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_mail_sink_prints_each_message_and_saves_it_as_eml(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    port, folder, log_path = free_port(), tmp_path / "mail", tmp_path / "sink.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MAGNETIQ), "mail-sink", "--port", str(port), "--dir", str(folder)], cwd=workspace.root,
            env=workspace.env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + WORKER_DEADLINE
        while not _listening(port):
            assert process.poll() is None, f"mail-sink exited with {process.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, "mail-sink did not listen in time"
            time.sleep(0.1)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "noreply@magnetiq.local", "ada@example.com", "Willkommen, Ada"
        message.set_content("Hello Ada,\n\nyour seat is booked.\n")
        message.add_alternative("<p>Hello Ada, <b>your seat is booked.</b></p>", subtype="html")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)

        while not (files := list(folder.glob("*.eml"))) or "your seat is booked" not in log_path.read_text():
            assert time.monotonic() < deadline, f"no message seen in time:\n{log_path.read_text()}"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=15)

    output = log_path.read_text()
    assert returncode == 0 and "Traceback" not in output, output
    assert "From:    noreply@magnetiq.local" in output
    assert "To:      ada@example.com" in output
    assert "Subject: Willkommen, Ada" in output
    assert "your seat is booked." in output and "<b>" not in output, "the text part is shown, not the HTML"
    assert len(files) == 1 and files[0].name in output
    saved = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert saved["Subject"] == "Willkommen, Ada" and saved["To"] == "ada@example.com"
    assert "your seat is booked." in saved.get_body(preferencelist=("plain",)).get_content()
    assert "mail sink stopped" in output


def test_mail_sink_only_if_default_stays_off_when_smtp_points_elsewhere(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    port = free_port()

    result = workspace.run(
        "mail-sink", "--only-if-default", "--port", str(port), "--dir", str(tmp_path / "mail"), timeout=30,
        SMTP_PORT="2525",
    )

    assert result.returncode == 0, result.stderr
    assert "not started" in result.stdout and "2525" in result.stdout
    assert not (tmp_path / "mail").exists()


@pytest.mark.parametrize("only_if_default", [True, False])
def test_mail_sink_on_a_taken_port(tmp_path: Path, only_if_default: bool) -> None:
    workspace = make_workspace(tmp_path)
    with socket.socket() as other_catcher:
        other_catcher.bind(("127.0.0.1", 0))
        other_catcher.listen()
        port = other_catcher.getsockname()[1]
        flags = ["--only-if-default"] if only_if_default else []

        result = workspace.run("mail-sink", *flags, "--port", str(port), "--dir", str(tmp_path / "mail"), timeout=30)

    if only_if_default:  # someone runs a real catcher there: make run carries on without ours
        assert result.returncode == 0, result.stderr
        assert "not started" in result.stdout and "taken" in result.stdout
    else:
        assert_refused(result, "taken", str(port))


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_default_language_no_mail_is_written_in_is_refused(tmp_path: Path, command: str) -> None:
    workspace = make_workspace(tmp_path)
    result = workspace.call(*COMMANDS[command], SUPPORTED_LANGUAGES="fr,en")
    assert_refused(result, "SUPPORTED_LANGUAGES", "'fr'")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_malformed_booking_hours_is_refused(tmp_path: Path, command: str) -> None:
    """The bookings slice checks its own settings; the shell refuses to start before touching the database."""
    workspace = make_workspace(tmp_path)
    result = workspace.call(*COMMANDS[command], BOOKING_HOURS="9 to 5")
    assert_refused(result, "configuration refused", "BOOKING_HOURS", "'9 to 5'")
    assert not workspace.db.exists()
