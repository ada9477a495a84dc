"""The media slice's api: other slices store, look up and stream files through it."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from features.media import service
from features.media.schemas import MediaStaffView
from features.media.stats import stats
from shared.config import Settings
from shared.db import Database
from shared.errors import NotFound, ValidationFailed
from shared.jobs import JobContext, PeriodicJob
from shared.publishing import MediaToUpload, ProviderRejected
from shared.uploads import UPLOAD_BODY_LIMIT, ReceivedUpload, receive_upload

logger = logging.getLogger("magnetiq.media")

__all__ = [
    "JOBS",
    "UPLOAD_BODY_LIMIT",
    "MediaFile",
    "MediaStaffView",
    "ReceivedUpload",
    "get_media",
    "make_private",
    "media_file",
    "receive_upload",
    "require_images",
    "stats",
    "store_upload",
    "upload_reader",
]


@dataclass(frozen=True)
class MediaFile:
    """Where a stored file is on disk and how to serve it."""

    path: Path
    mime_type: str
    filename: str
    kind: str


async def get_media(session: AsyncSession, *, settings: Settings, media_id: int) -> MediaStaffView:
    """A media item as staff see it; NotFound (404) when it does not exist."""
    return service.to_staff_view(await service.get_media(session, media_id=media_id), settings)


async def store_upload(
    session: AsyncSession,
    *, settings: Settings,
    upload: ReceivedUpload,
    alt_text: dict[str, str] | None = None,
    created_by: int | None = None,
    is_public: bool = True,
) -> tuple[MediaStaffView, bool]:
    """Keeps a received upload (verified, deduplicated); returns it and whether it is new."""
    item, created = await service.store_upload(
        session, settings=settings, upload=upload, alt_text=alt_text, created_by=created_by, is_public=is_public
    )
    return service.to_staff_view(item, settings), created


async def make_private(session: AsyncSession, *, settings: Settings, media_id: int) -> MediaStaffView:
    """Stops serving an item at its public URL (a whitepaper's document is reached by signed link only)."""
    item = await service.set_visibility(session, settings=settings, media_id=media_id, is_public=False)
    return service.to_staff_view(item, settings)


async def media_file(session: AsyncSession, *, settings: Settings, media_id: int) -> MediaFile:
    item = await service.get_media(session, media_id=media_id)
    return MediaFile(service.file_path(settings, item), item.mime_type, item.filename, item.kind)


async def require_images(session: AsyncSession, *, settings: Settings, media_ids: Sequence[int], field: str) -> None:
    """422 naming `field.N` unless every id is a media item that is an image (what a social post may carry)."""
    for index, media_id in enumerate(media_ids):
        name = f"{field}.{index}"
        try:
            item = await get_media(session, settings=settings, media_id=media_id)
        except NotFound:
            raise ValidationFailed(f"{name}: there is no media item {media_id}", field=name) from None
        if item.kind != "image":
            raise ValidationFailed(f"{name}: media item {media_id} is not an image", field=name)


def upload_reader(database: Database, settings: Settings) -> Callable[[int], Awaitable[MediaToUpload]]:
    """Reads a media item's bytes for an upload to a provider, with no transaction open during the read."""

    async def read(media_id: int) -> MediaToUpload:
        async with database.session(write=False) as session:
            try:
                found = await media_file(session, settings=settings, media_id=media_id)
            except NotFound:  # deleted since the post was written: the post cannot go out, and says why
                raise ProviderRejected(f"media item {media_id} no longer exists") from None
        return MediaToUpload(await asyncio.to_thread(found.path.read_bytes), found.mime_type, found.filename)

    return read


async def _sweep_orphan_files(context: JobContext) -> None:
    async with context.database.session(write=False) as session:
        removed = await service.sweep_orphan_files(session, settings=context.settings)
    if removed:
        logger.info("orphaned media files set aside", extra={"count": removed})


JOBS = (PeriodicJob(name="sweep_orphan_media_files", interval=timedelta(hours=1), run=_sweep_orphan_files),)
