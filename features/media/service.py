"""The media store: verified, deduplicated files under UPLOAD_DIR with generated names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.media.errors import FileTypeRefused, PrivateFile
from features.media.filetypes import detect
from features.media.models import MediaItem
from features.media.schemas import MediaStaffView
from shared.config import Settings
from shared.dialect import is_foreign_key_violation
from shared.errors import InUse, NotFound, ValidationFailed
from shared.i18n import LanguageCode, check_localized
from shared.pagination import ListParams, paginate, sort_order
from shared.text import SingleLineText
from shared.uploads import ReceivedUpload, sanitize_filename

logger = logging.getLogger("magnetiq.media")

PUBLIC_PATH = "/api/v1/public/media"
# Old enough that no upload can still be between its file and its committed record.
ORPHAN_AGE = timedelta(hours=1)
ORPHAN_KEEP = timedelta(days=7)
STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,10}")
SORT_COLUMNS = {"created_at": MediaItem.created_at, "size": MediaItem.size, "filename": MediaItem.filename}
_ALT_TEXT = TypeAdapter(dict[LanguageCode, SingleLineText])


def to_staff_view(item: MediaItem, settings: Settings) -> MediaStaffView:
    return MediaStaffView(
        **item.model_dump(exclude={"stored_name", "created_by"}),
        url=f"{settings.public_base_url.rstrip('/')}{PUBLIC_PATH}/{item.stored_name}",
    )


def parse_alt_text(raw: str | None, settings: Settings) -> dict[str, str] | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:  # deep nesting exhausts the parser's stack
        raise ValidationFailed('alt_text must be a JSON object such as {"en": "..."}', field="alt_text") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationFailed('alt_text must be a JSON object such as {"en": "..."}', field="alt_text")
    try:  # a multipart field, which FastAPI does not validate: the same types as a JSON body's, called here
        value = _ALT_TEXT.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]  # its location never holds a lone surrogate (pydantic replaces them)
        path = ".".join(["alt_text", *map(str, error["loc"])])
        raise ValidationFailed(f"{path}: {error['msg']}", field=path) from exc
    check_localized(value, field="alt_text", settings=settings, required=False)
    return value


async def store_upload(
    session: AsyncSession,
    *, settings: Settings,
    upload: ReceivedUpload,
    alt_text: dict[str, str] | None,
    created_by: int | None,
    is_public: bool = True,
) -> tuple[MediaItem, bool]:
    """Keeps a received upload; returns the item and whether it is new (same bytes return the old one)."""
    assert upload.path is not None
    filename = sanitize_filename(upload.client_filename)
    extension = Path(filename).suffix.lower().lstrip(".")
    if extension not in settings.allowed_file_types:
        raise FileTypeRefused(f"Accepted file types: {', '.join(settings.allowed_file_types)}", field="file")
    detected = await asyncio.to_thread(detect, upload.path, extension)
    if detected is None:
        raise FileTypeRefused(f"The file's content is not a valid .{extension} file", field="file")

    existing = (await session.exec(select(MediaItem).where(MediaItem.sha256 == upload.sha256))).first()
    if existing is not None:
        if is_public and not existing.is_public:
            # One file, one record: handing back the private item would give a URL that answers 404.
            raise PrivateFile(field="file")
        return existing, False

    stored_name = f"{uuid.uuid4().hex}.{extension}"
    final_path = Path(settings.upload_dir) / stored_name
    os.replace(upload.path, final_path)  # same filesystem: atomic, and never a partial file
    upload.path = None
    item = MediaItem(
        stored_name=stored_name,
        filename=filename,
        mime_type=detected.mime_type,
        kind=detected.kind,
        size=upload.size,
        sha256=upload.sha256,
        width=detected.width,
        height=detected.height,
        alt_text=alt_text,
        is_public=is_public,
        created_by=created_by,
    )
    session.add(item)
    try:
        await session.flush()
    except IntegrityError:
        final_path.unlink(missing_ok=True)
        raise
    return item, True


async def list_media(
    session: AsyncSession, *, params: ListParams, kind: str | None = None, sort: str | None = None
) -> tuple[list[MediaItem], int]:
    statement = select(MediaItem)
    if kind:
        statement = statement.where(MediaItem.kind == kind)
    order = sort_order(sort, SORT_COLUMNS, [col(MediaItem.id).desc()])
    return await paginate(session, statement=statement, params=params, order_by=order)


async def get_media(session: AsyncSession, *, media_id: int) -> MediaItem:
    item = await session.get(MediaItem, media_id)
    if item is None:
        raise NotFound("Media item not found")
    return item


async def delete_media(session: AsyncSession, *, settings: Settings, media_id: int) -> Path:
    """Deletes the record; returns the file to remove once the deletion is committed."""
    item = await get_media(session, media_id=media_id)
    await session.delete(item)
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_foreign_key_violation(exc):
            raise InUse("This file is still used (by a whitepaper, a post, ...); remove those uses first") from exc
        raise
    return Path(settings.upload_dir) / item.stored_name


async def find_public_file(session: AsyncSession, *, stored_name: str) -> MediaItem | None:
    item = (await session.exec(select(MediaItem).where(MediaItem.stored_name == stored_name))).first()
    return item if item is not None and item.is_public else None


async def set_visibility(session: AsyncSession, *, settings: Settings, media_id: int, is_public: bool) -> MediaItem:
    item = await get_media(session, media_id=media_id)
    if item.is_public and not is_public:
        # Its public URL may be in pages, mails and bookmarks: a new name ends it. The file gets
        # a second name (a hard link, so nothing is copied and a rollback leaves only an orphan
        # for the sweep); the old name, no longer in any record, is swept an hour later.
        directory = Path(settings.upload_dir)
        new_name = f"{uuid.uuid4().hex}{Path(item.stored_name).suffix}"
        try:
            # Young again first (both names are one file), so a sweep never sees the new name old.
            await asyncio.to_thread(os.utime, directory / item.stored_name)
            await asyncio.to_thread(os.link, directory / item.stored_name, directory / new_name)
        except OSError:
            # A missing file (it serves nobody) or a filesystem without hard links: the item
            # is still made private, under the name it has.
            logger.warning("media item kept its name when made private", extra={"media_id": item.id})
        else:
            item.stored_name = new_name
    item.is_public = is_public
    session.add(item)
    return item


def file_path(settings: Settings, item: MediaItem) -> Path:
    return Path(settings.upload_dir) / item.stored_name


def _old_files(directory: Path, pattern: str, cutoff: float) -> list[Path]:
    """Files in `directory` matching `pattern`, last changed before `cutoff`."""

    def old(path: Path) -> bool:
        try:
            return path.is_file() and path.stat().st_mtime < cutoff
        except FileNotFoundError:
            return False

    return [p for p in directory.glob(pattern) if old(p)]


def _set_aside(paths: list[Path], quarantine: Path) -> None:
    if not paths:
        return
    quarantine.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = quarantine / path.name
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, target)
            os.utime(target)  # its age in quarantine starts now


async def sweep_orphan_files(session: AsyncSession, *, settings: Settings, now: float | None = None) -> int:
    """Sets aside files no record points at and deletes what was set aside long ago; returns how many were set aside.

    Orphans are left by a process that died mid-upload, or by a transaction rolled back after
    its file was moved into place (a whitepaper whose other fields failed, a lost commit).
    They are moved to `.orphaned/` rather than deleted, because a database restored from an
    older backup, or a DATABASE_URL pointing at the wrong file, makes good files look orphaned:
    the operator can move them back for ORPHAN_KEEP.
    """
    now = time.time() if now is None else now
    upload_dir = Path(settings.upload_dir)
    cutoff = now - ORPHAN_AGE.total_seconds()
    # Only names this slice generates: anything else an operator keeps there is left alone.
    stored = [p for p in await asyncio.to_thread(_old_files, upload_dir, "*", cutoff) if STORED_NAME.fullmatch(p.name)]
    known: set[str] = set()
    for start in range(0, len(stored), 500):
        names = [p.name for p in stored[start : start + 500]]
        known.update(
            (await session.exec(select(MediaItem.stored_name).where(col(MediaItem.stored_name).in_(names)))).all()
        )
    orphans = [p for p in stored if p.name not in known]
    orphans += await asyncio.to_thread(_old_files, upload_dir / ".incoming", "upload-*", cutoff)
    quarantine = upload_dir / ".orphaned"
    await asyncio.to_thread(_set_aside, orphans, quarantine)
    for path in await asyncio.to_thread(_old_files, quarantine, "*", now - ORPHAN_KEEP.total_seconds()):
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return len(orphans)
