"""The `magnetiq` command: serve, db upgrade, db copy, create-admin, worker, backup, restore, mail-sink."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from shared.config import Settings


def _load_settings() -> Settings:
    from shared.security import use_password_hashing_for

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"magnetiq: configuration refused: {problems}")
    use_password_hashing_for(settings.environment)
    return settings


def _require_schema_at_head(settings: Settings) -> None:
    """Refuse to run on a database whose schema is not this code's newest migration: it would answer 500s."""
    from shared.db import Database, sqlite_file_path
    from shared.migrations import current_revision, head_revision

    async def read_revision() -> str | None:
        database = Database.from_url(settings.database_url)
        try:
            return await current_revision(database)
        finally:
            await database.dispose()

    path = sqlite_file_path(settings.database_url)
    # A missing SQLite file is not created here: refusing must leave nothing behind.
    revision = None if path is not None and not Path(path).exists() else asyncio.run(read_revision())
    head = head_revision()
    if revision == head:
        return
    state = "has never been migrated" if revision is None else f"is at revision {revision}, not the newest {head}"
    sys.exit(f"magnetiq: the database {state}; run `magnetiq db upgrade` first (`make run` does it for you)")


def _require_runnable_configuration(settings: Settings) -> None:
    """What create_app would refuse (mail texts, each slice's settings check), said before anything starts."""
    from magnetiq.app import configuration_problem

    if problem := configuration_problem(settings):
        sys.exit(f"magnetiq: configuration refused: {problem}")


WORKER_HEALTHCHECK_SECONDS = 30


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _load_settings()  # refuse bad configuration before forking workers
    _require_runnable_configuration(settings)
    _require_schema_at_head(settings)
    uvicorn.run(
        "magnetiq.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        proxy_headers=False, log_config=None, access_log=False,
        http="magnetiq.http:BoundedHttpToolsProtocol",  # bounds the request head, which uvicorn does not
        # The supervisor kills a worker that has not answered its health check within this; a
        # replacement for a killed worker imports the whole app first, which takes longer than
        # uvicorn's 5 s on a loaded machine, and was killed in turn (the soak test saw it).
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _db_upgrade(_args: argparse.Namespace) -> None:
    from alembic import command

    from shared.migrations import alembic_config

    settings = _load_settings()
    _ensure_parent_dir(settings.database_url)
    command.upgrade(alembic_config(settings.database_url), "head")
    print("database is at the newest revision")


def _db_copy(args: argparse.Namespace) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from magnetiq.registry import metadata
    from shared.database_copy import CopyFailed, CopyRefused, copy_database, safe_url

    # URLs are printed without their passwords, here and in every message below.
    print(f"copying {safe_url(args.source)} into {safe_url(args.target)}", flush=True)

    def copied(table: str, rows: int) -> None:
        if rows:  # progress through a large database; the counts of every table follow at the end
            print(f"  {table}: {rows} rows copied", flush=True)

    try:
        report = asyncio.run(copy_database(
            args.source, args.target, metadata=metadata, replace=args.replace, batch_rows=args.batch_rows,
            progress=copied,
        ))
    except CopyRefused as exc:
        sys.exit(f"magnetiq: db copy refused: {exc}")
    except CopyFailed as exc:
        sys.exit(f"magnetiq: db copy failed: {exc}")
    except (OSError, SQLAlchemyError) as exc:  # a server that does not answer, a refused login
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1] or [type(exc).__name__]
        sys.exit(f"magnetiq: db copy failed: a database did not answer: {reason[0]}")
    width = max(len(table.name) for table in report.tables)
    print(f"{'table'.ljust(width)}  {'source':>10}  {'target':>10}")
    for table in report.tables:
        mark = "" if table.matches else "  DIFFERS"
        print(f"{table.name.ljust(width)}  {table.source:>10}  {table.target:>10}{mark}")
    if report.mismatched:
        names = ", ".join(table.name for table in report.mismatched)
        sys.exit(f"magnetiq: db copy failed: the row counts differ in {names}; the target was rolled back")
    print(f"copied {report.rows} rows of {len(report.tables)} tables in {report.seconds} s; every count matches")


def _ensure_parent_dir(database_url: str) -> None:
    from shared.db import sqlite_file_path

    path = sqlite_file_path(database_url)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _create_admin(args: argparse.Namespace) -> None:
    from features.auth.api import UserCreate, create_user
    from shared.db import Database
    from shared.errors import AppError
    from shared.permissions import Role

    settings = _load_settings()

    async def run() -> None:
        database = Database.from_url(settings.database_url)
        try:
            data = UserCreate(
                email=args.email, password=args.password, first_name=args.first_name,
                last_name=args.last_name, role=Role.ADMIN,
            )
            async with database.session() as session:
                user = await create_user(session, data=data)
            print(f"created admin {user.email} (id {user.id}); log in at POST /api/v1/auth/login")
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except AppError as exc:
        sys.exit(f"magnetiq: {exc.message}")
    except ValidationError as exc:
        sys.exit(f"magnetiq: {'; '.join(str(e['msg']) for e in exc.errors())}")


def _worker(_args: argparse.Namespace) -> None:
    from magnetiq.app import build_job_runner, create_app

    settings = _load_settings()
    _require_runnable_configuration(settings)
    _require_schema_at_head(settings)
    app = create_app(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await build_job_runner(app, mode="standalone").run_forever(stop)
        finally:
            await app.state.db.dispose()

    asyncio.run(run())


def _backup(args: argparse.Namespace) -> None:
    from sqlalchemy.exc import OperationalError

    from features.admin.api import BackupProblem, take_backup
    from shared.db import Database

    settings = _load_settings()

    async def run() -> None:
        database = Database.from_url(settings.database_url)
        try:
            result = await take_backup(database, settings, target=Path(args.path), trigger="manual")
        finally:
            await database.dispose()
        manifest = result.manifest
        checked = "pg_restore --list" if manifest.database.engine == "postgresql" else "integrity_check"
        print(
            f"backup written to {result.path} and verified ({checked} ok): database "
            f"{manifest.database.size} bytes, sha256 {manifest.database.sha256}, revision {manifest.revision}, "
            f"{len(manifest.media)} media files ({manifest.media_bytes} bytes), {result.seconds} s"
        )

    try:
        asyncio.run(run())
    except BackupProblem as exc:
        sys.exit(f"magnetiq: backup failed: {exc.message}")
    except OperationalError as exc:  # recording the run: the database locked past the busy timeout, say
        sys.exit(f"magnetiq: backup failed: the database did not answer: {exc.orig}")


def _restore(args: argparse.Namespace) -> None:
    from features.admin.api import BackupProblem, restore_backup

    settings = _load_settings()
    try:
        result = asyncio.run(restore_backup(settings, source=Path(args.path), force=args.force))
    except BackupProblem as exc:
        sys.exit(f"magnetiq: restore refused: {exc.message}")
    manifest = result.manifest
    print(f"restored the backup of {manifest.created_at.isoformat()} (revision {manifest.revision}, "
          f"{len(manifest.media)} media files); the database is now at revision {result.revision}")
    for path in result.set_aside:
        print(f"kept aside: {path}")


def _mail_sink(args: argparse.Namespace) -> None:
    from magnetiq.mail_sink import PortTaken, serve_mail_sink

    if args.only_if_default:
        settings = _load_settings()
        fields = Settings.model_fields
        defaults = (fields["smtp_host"].default, fields["smtp_port"].default)
        if (settings.smtp_host, settings.smtp_port) != defaults:
            print(f"mail sink not started: SMTP_HOST and SMTP_PORT point at {settings.smtp_host}:{settings.smtp_port}")
            return
    try:
        asyncio.run(serve_mail_sink(args.host, args.port, Path(args.dir)))
    except PortTaken as exc:
        if args.only_if_default:
            print(f"mail sink not started: {exc} is taken (another mail catcher runs there, presumably)")
            return
        sys.exit(f"magnetiq: {exc} is taken; choose another --port")
    except OSError as exc:  # an address that cannot be bound, a folder that cannot be made
        sys.exit(f"magnetiq: mail sink cannot start: {exc.strerror or exc}")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="magnetiq", description="Magnetiq v2 backend")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3036)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply every migration").set_defaults(handler=_db_upgrade)
    copy = db_commands.add_parser(
        "copy", help="copy every table into another database (migrated to head first), verified by row counts"
    )
    copy.add_argument("source", help="the database to read, at the newest revision (sqlite+aiosqlite:///data/magnetiq.db)")
    copy.add_argument("target", help="an empty database to fill (postgresql+asyncpg://user:password@host/db)")
    copy.add_argument("--replace", action="store_true", help="delete every row of a non-empty target first")
    copy.add_argument(
        "--batch-rows", type=_positive, default=1000, help="rows read and written at a time (bounds memory)"
    )
    copy.set_defaults(handler=_db_copy)

    admin = commands.add_parser("create-admin", help="create an admin user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--first-name", default="Admin")
    admin.add_argument("--last-name", default="User")
    admin.set_defaults(handler=_create_admin)

    commands.add_parser("worker", help="run background jobs without serving HTTP").set_defaults(handler=_worker)

    backup = commands.add_parser(
        "backup", help="online backup of the database and media into a new directory (or a .tar), verified"
    )
    backup.add_argument("path", help="a new directory, or a file ending in .tar")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore", help="put a verified backup in place (the current database and media are moved aside)"
    )
    restore.add_argument("path", help="a backup directory or .tar made by `magnetiq backup`")
    restore.add_argument("--force", action="store_true", help="restore even though processes seem to run")
    restore.set_defaults(handler=_restore)

    sink = commands.add_parser(
        "mail-sink", help="development SMTP server: prints each message and saves it as a .eml file"
    )
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=1025)
    sink.add_argument("--dir", default="./data/mail", help="folder for the .eml files")
    sink.add_argument(
        "--only-if-default", action="store_true",
        help="exit quietly when SMTP_HOST/SMTP_PORT are not localhost:1025 or the port is taken (make run uses it)",
    )
    sink.set_defaults(handler=_mail_sink)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
