"""A backup on disk: the database copy, the media files and the manifest that vouches for both.

A backup is a directory, or a .tar holding one directory, with:
  manifest.json  time, migration revision, the database copy's engine, size and SHA-256, every media file and its size
  magnetiq.db    on SQLite: a consistent copy made by SQLite's online backup while the app keeps writing
  magnetiq.dump  on PostgreSQL: pg_dump's custom format, of one snapshot while the app keeps writing
  media/         UPLOAD_DIR's files, hard-linked when on the same filesystem (uploads are replaced, never
                 changed in place, so a link stays the file it was), copied otherwise

Everything here is blocking file, SQLite and pg_restore work: callers run it in a thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, field_validator

from features.admin import postgres_tools

MANIFEST = "manifest.json"
DATABASE_FILE = "magnetiq.db"
MEDIA_DIR = "media"
SKIPPED_MEDIA = frozenset({".incoming"})  # uploads still being received


class BackupProblem(Exception):
    """What went wrong, said for an operator (no stack trace, no path beyond the backup's own name)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Engine = Literal["sqlite", "postgresql"]


class DatabaseCopy(BaseModel):
    engine: Engine = "sqlite"  # manifests written before PostgreSQL was supported have none: SQLite's
    file: str = DATABASE_FILE
    size: int
    sha256: str


class MediaFile(BaseModel):
    path: str  # relative to the media directory, with forward slashes
    size: int

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = PurePosixPath(value).parts
        if not parts or value.startswith("/") or ".." in parts:
            raise ValueError("a media path must stay inside the media directory")
        return value


class Manifest(BaseModel):
    format: Literal["magnetiq-backup/1"] = "magnetiq-backup/1"
    created_at: datetime
    revision: str | None
    backup_run_id: int | None
    database: DatabaseCopy
    media: list[MediaFile]
    media_bytes: int


def copy_database(source: str, target: Path) -> None:
    """A consistent copy of the live database at `target`, in rollback-journal mode (one file)."""
    with closing(sqlite3.connect(source, timeout=15)) as live, closing(sqlite3.connect(target)) as copy:
        # In one step: in WAL mode the copy reads one snapshot while writers carry on (a reader never
        # blocks them). Copied in several steps, it starts over whenever another connection commits in
        # between, and under steady writes never finishes (measured: 100 MB, a write every 2 ms).
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE").close()


def check_database(path: Path) -> str | None:
    """`PRAGMA integrity_check` of a database file: None when it is ok, else SQLite's first complaint."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == [("ok",)] else "; ".join(str(row[0]) for row in rows[:3])


def check_copy(path: Path, engine: Engine) -> str | None:
    """None when the copy is sound, else the check it fails and why: SQLite's integrity_check of the
    file, or whether pg_restore can read the dump."""
    if engine == "postgresql":
        problem = postgres_tools.check_dump(path)
        return None if problem is None else f"pg_restore --list: {problem}"
    problem = check_database(path)
    return None if problem is None else f"integrity_check: {problem}"


def database_revision(path: Path) -> str | None:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # never migrated
            return None
    return row[0] if row else None


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not source.exists():
            raise
        shutil.copy2(source, target)  # another filesystem, or links not allowed there


def add_media(upload_dir: Path, target: Path) -> None:
    """Links or copies into `target` every media file not there yet (a file deleted meanwhile is skipped)."""
    if not upload_dir.is_dir():
        return
    for directory, subdirectories, files in os.walk(upload_dir):
        here = Path(directory)
        if here == upload_dir:
            subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_MEDIA]
        for name in files:
            source = here / name
            destination = target / source.relative_to(upload_dir)
            if destination.exists() or source.is_symlink():
                continue
            try:
                link_or_copy(source, destination)
            except FileNotFoundError:
                continue


def list_media(media_dir: Path) -> list[MediaFile]:
    if not media_dir.is_dir():
        return []
    return sorted(
        (MediaFile(path=path.relative_to(media_dir).as_posix(), size=path.stat().st_size)
         for path in media_dir.rglob("*") if path.is_file()),
        key=lambda item: item.path,
    )


def verify(root: Path, manifest: Manifest) -> None:
    """Raises BackupProblem unless the database copy and every media file are what the manifest says."""
    database = root / manifest.database.file
    if PurePosixPath(manifest.database.file).name != manifest.database.file or not database.is_file():
        raise BackupProblem("the backup has no database copy")
    if database.stat().st_size != manifest.database.size or sha256_of(database) != manifest.database.sha256:
        raise BackupProblem("the database copy does not match the manifest's size and SHA-256 (damaged or changed)")
    if problem := check_copy(database, manifest.database.engine):
        raise BackupProblem(f"the database copy fails {problem}")
    media = root / MEDIA_DIR
    for item in manifest.media:
        path = media / item.path
        if not path.is_file() or path.stat().st_size != item.size:
            raise BackupProblem(f"media file {item.path} is missing from the backup or has another size")


def read_manifest(root: Path) -> Manifest:
    try:
        return Manifest.model_validate_json((root / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise BackupProblem(f"no {MANIFEST} in the backup: not a magnetiq backup") from None
    except ValueError as exc:
        raise BackupProblem(f"{MANIFEST} is not a valid manifest ({str(exc).splitlines()[0]})") from None
