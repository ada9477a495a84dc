"""HTTP layer of /api/v1/content/media (staff)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status

from features.media import service
from features.media.schemas import UPLOAD_REQUEST_BODY, MediaKind, MediaStaffView
from shared.config import SettingsDep
from shared.db import ReadSession, WriteSession
from shared.errors import error_responses
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite
from shared.uploads import UPLOAD_BODY_LIMIT, receive_upload

router = APIRouter(
    prefix="/api/v1/content/media", tags=["media"], responses=error_responses(400, 401, 403, 422, 500)
)


@router.get("", response_model=ListPage[MediaStaffView])
async def list_media(
    _reader: CanRead, session: ReadSession, settings: SettingsDep, params: Pagination,
    type: Annotated[MediaKind | None, Query(description="image or document")] = None,
    sort: Annotated[str | None, Query(description="created_at, size or filename; - for descending")] = None,
) -> ListPage[MediaStaffView]:
    """List uploaded files, newest first."""
    items, total = await service.list_media(session, params=params, kind=type, sort=sort)
    return ListPage(
        items=[service.to_staff_view(i, settings) for i in items], total=total, limit=params.limit, offset=params.offset
    )


@router.post(
    "",
    response_model=MediaStaffView,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY},
    max_body_size=UPLOAD_BODY_LIMIT,
    responses={200: {"model": MediaStaffView, "description": "The same bytes were uploaded before"},
               **error_responses(409, 413, 415)},
)
async def upload_media(
    request: Request, principal: CanWrite, session: WriteSession, settings: SettingsDep, response: Response
) -> MediaStaffView:
    """Upload a file (multipart field `file`, optional `alt_text` as a JSON object of languages)."""
    upload = await receive_upload(request, upload_dir=Path(settings.upload_dir), max_file_size=settings.max_file_size)
    try:
        alt_text = service.parse_alt_text(upload.fields.get("alt_text"), settings)
        item, created = await service.store_upload(
            session, settings=settings, upload=upload, alt_text=alt_text, created_by=principal.user_id
        )
    finally:
        upload.discard()
    if not created:
        response.status_code = status.HTTP_200_OK
    return service.to_staff_view(item, settings)


@router.get("/{media_id}", response_model=MediaStaffView, responses=error_responses(404))
async def read_media(media_id: IdPath, _reader: CanRead, session: ReadSession, settings: SettingsDep) -> MediaStaffView:
    """One uploaded file's details."""
    return service.to_staff_view(await service.get_media(session, media_id=media_id), settings)


@router.delete("/{media_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409))
async def delete_media(
    media_id: IdPath, _admin: CanDelete, session: WriteSession, settings: SettingsDep, background: BackgroundTasks
) -> None:
    """Delete a file (admins); refused with 409 IN_USE while something still uses it."""
    path = await service.delete_media(session, settings=settings, media_id=media_id)
    # After the response, so after the commit: a refused or failed delete never loses the file.
    background.add_task(path.unlink, missing_ok=True)
