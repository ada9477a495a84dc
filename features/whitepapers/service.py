"""Whitepapers: writing them, keeping their documents private, and what visitors may read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.media import api as media_api
from features.whitepapers.errors import NotADocument
from features.whitepapers.models import Whitepaper
from features.whitepapers.schemas import WhitepaperCreate, WhitepaperStaffView, WhitepaperUpdate, WhitepaperVisitorView
from shared.config import Settings
from shared.db import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.i18n import check_localized
from shared.pagination import ListParams, paginate, sort_order
from shared.permissions import Principal
from shared.slugs import ensure_slug_free, flush_guarding_slug

LOCALIZED_FIELDS = ("title", "summary")
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif"})
SORT_COLUMNS = {
    "created_at": Whitepaper.created_at, "updated_at": Whitepaper.updated_at,
    "published_at": Whitepaper.published_at, "slug": Whitepaper.slug, "download_count": Whitepaper.download_count,
}


def _check_fields(changes: dict[str, Any], settings: Settings) -> None:
    for name in LOCALIZED_FIELDS:
        if name in changes:
            check_localized(changes[name], field=name, settings=settings, required=True)
    if "language" in changes and changes["language"] not in settings.supported_languages:
        raise ValidationFailed(
            f"Unsupported language; use one of: {', '.join(settings.supported_languages)}", field="language"
        )
    for name in ("slug", "title", "summary", "language", "document_media_id"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)


async def _existing_media(session: AsyncSession, *, settings: Settings, media_id: int, field: str):
    try:
        return await media_api.get_media(session, settings=settings, media_id=media_id)
    except NotFound as exc:
        raise ValidationFailed(f"Media item {media_id} does not exist", field=field) from exc


async def _take_document(session: AsyncSession, *, settings: Settings, media_id: int) -> None:
    """Checks the item is a document and stops serving it publicly: it is reached by signed link only."""
    item = await _existing_media(session, settings=settings, media_id=media_id, field="document_media_id")
    if item.kind != "document":
        raise ValidationFailed("The document must be a PDF or office file, not an image", field="document_media_id")
    if item.is_public:
        await media_api.make_private(session, settings=settings, media_id=media_id)


async def _check_cover(session: AsyncSession, *, settings: Settings, media_id: int) -> None:
    item = await _existing_media(session, settings=settings, media_id=media_id, field="cover_media_id")
    if item.kind != "image":
        raise ValidationFailed("The cover must be an image", field="cover_media_id")


def _apply_status(whitepaper: Whitepaper, status: str) -> None:
    if status == "published" and whitepaper.published_at is None:
        whitepaper.published_at = utcnow()
    whitepaper.status = status


async def create_whitepaper(
    session: AsyncSession, *, settings: Settings, actor: Principal, data: WhitepaperCreate
) -> Whitepaper:
    fields = data.model_dump(exclude={"status"})
    _check_fields(fields, settings)
    await ensure_slug_free(session, model=Whitepaper, slug=data.slug)
    await _take_document(session, settings=settings, media_id=data.document_media_id)
    if data.cover_media_id is not None:
        await _check_cover(session, settings=settings, media_id=data.cover_media_id)
    whitepaper = Whitepaper(**fields, created_by=actor.user_id)
    _apply_status(whitepaper, data.status)
    session.add(whitepaper)
    await flush_guarding_slug(session)
    return whitepaper


async def get_whitepaper(
    session: AsyncSession, *, whitepaper_id: int, published_only: bool = False, include_deleted: bool = False
) -> Whitepaper:
    whitepaper = await session.get(Whitepaper, whitepaper_id)
    if (
        whitepaper is None
        or (whitepaper.deleted_at is not None and not include_deleted)
        or (published_only and whitepaper.status != "published")
    ):
        raise NotFound("Whitepaper not found")
    return whitepaper


async def list_whitepapers(
    session: AsyncSession, *, params: ListParams, published_only: bool, status: str | None = None,
    language: str | None = None, slug: str | None = None, sort: str | None = None,
) -> tuple[list[Whitepaper], int]:
    statement = select(Whitepaper).where(col(Whitepaper.deleted_at).is_(None))
    if published_only:
        statement = statement.where(Whitepaper.status == "published")
    if status:
        statement = statement.where(Whitepaper.status == status)
    if language:
        statement = statement.where(Whitepaper.language == language)
    if slug:
        statement = statement.where(Whitepaper.slug == slug)
    default = [col(Whitepaper.published_at).desc(), col(Whitepaper.id).desc()]
    return await paginate(session, statement=statement, params=params, order_by=sort_order(sort, SORT_COLUMNS, default))


async def update_whitepaper(
    session: AsyncSession, *, settings: Settings, whitepaper_id: int, data: WhitepaperUpdate
) -> Whitepaper:
    whitepaper = await get_whitepaper(session, whitepaper_id=whitepaper_id)
    changes = data.model_dump(exclude_unset=True, exclude={"status"})
    _check_fields(changes, settings)
    if "status" in data.model_fields_set and data.status is None:
        raise ValidationFailed("status cannot be null", field="status")
    if changes.get("slug") and changes["slug"] != whitepaper.slug:
        await ensure_slug_free(session, model=Whitepaper, slug=changes["slug"], except_id=whitepaper.id)
    if changes.get("document_media_id") is not None:
        await _take_document(session, settings=settings, media_id=changes["document_media_id"])
    if changes.get("cover_media_id") is not None:
        await _check_cover(session, settings=settings, media_id=changes["cover_media_id"])
    for name, value in changes.items():
        setattr(whitepaper, name, value)
    if data.status is not None:
        _apply_status(whitepaper, data.status)
    whitepaper.updated_at = utcnow()
    session.add(whitepaper)
    await flush_guarding_slug(session)
    return whitepaper


async def delete_whitepaper(session: AsyncSession, *, whitepaper_id: int) -> None:
    """Soft delete: gone from lists and downloads, its slug free for reuse, its leads kept."""
    whitepaper = await get_whitepaper(session, whitepaper_id=whitepaper_id)
    whitepaper.deleted_at = whitepaper.updated_at = utcnow()
    session.add(whitepaper)
    await session.flush()


async def present(
    session: AsyncSession, *, settings: Settings, whitepapers: Sequence[Whitepaper], staff: bool
) -> list[WhitepaperStaffView] | list[WhitepaperVisitorView]:
    """Staff or visitor views; visitors get the cover's public URL but nothing about the document."""
    cover_urls: dict[int, str] = {}
    for media_id in {w.cover_media_id for w in whitepapers if w.cover_media_id is not None}:
        cover_urls[media_id] = (await media_api.get_media(session, settings=settings, media_id=media_id)).url
    views = []
    for whitepaper in whitepapers:
        fields = whitepaper.model_dump()
        cover_url = cover_urls.get(whitepaper.cover_media_id) if whitepaper.cover_media_id else None
        view_class = WhitepaperStaffView if staff else WhitepaperVisitorView
        views.append(view_class.model_validate({**fields, "cover_url": cover_url}))
    return views


async def store_document(
    session: AsyncSession, *, settings: Settings, upload: media_api.ReceivedUpload, created_by: int
) -> tuple[media_api.MediaStaffView, bool]:
    """Keeps an uploaded document in the media store, private from the start."""
    extension = PurePosixPath(upload.client_filename.replace("\\", "/").strip(" .")).suffix.lower().lstrip(".")
    if extension in IMAGE_EXTENSIONS:
        raise NotADocument(field="file")
    item, created = await media_api.store_upload(
        session, settings=settings, upload=upload, created_by=created_by, is_public=False
    )
    if item.is_public:  # the same bytes were uploaded before, publicly: they are a whitepaper's now
        item = await media_api.make_private(session, settings=settings, media_id=item.id)
    return item, created
