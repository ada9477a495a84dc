"""HTTP layer of /api/v1/business/whitepapers: public reads and lead capture, staff writes."""

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse

from features.media import api as media_api
from features.whitepapers import downloads, service
from features.whitepapers.schemas import (
    DOCUMENT_TYPES,
    UPLOAD_REQUEST_BODY,
    DownloadLink,
    LeadStaffView,
    Slug,
    WhitepaperCreate,
    WhitepaperStaffView,
    WhitepaperStatus,
    WhitepaperUpdate,
    WhitepaperVisitorView,
)
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import error_responses
from shared.events import EventBusDep
from shared.export import CSV_RESPONSE, csv_export
from shared.http import IdPath, file_response
from shared.i18n import LanguageCode
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite, OptionalPrincipal
from shared.ratelimit import public_write_limit
from shared.visitors import VisitorFields

router = APIRouter(
    prefix="/api/v1/business/whitepapers", tags=["whitepapers"], responses=error_responses(400, 422, 500)
)

SortParam = Annotated[
    str | None, Query(max_length=40, description="published_at, created_at, updated_at, slug or download_count; "
                      "- for descending")
]
LeadSortParam = Annotated[
    str | None, Query(max_length=40, description="created_at, last_downloaded_at, email or times; - for descending")
]
TokenParam = Annotated[
    str | None, Query(max_length=2048, description="The signed token of a download link (valid 24 hours)")
]
_FILE_RESPONSE = {
    200: {
        "description": "The document, as an attachment",
        "content": {mime: {"schema": {"type": "string", "format": "binary"}} for mime in DOCUMENT_TYPES},
    },
    206: {"description": "Part of the document (Range request)"},
}


@router.get(
    "", response_model=ListPage[WhitepaperStaffView] | ListPage[WhitepaperVisitorView],
    responses=error_responses(401),
)
async def list_whitepapers(
    principal: OptionalPrincipal, session: ReadSession, settings: SettingsDep, params: Pagination,
    status: WhitepaperStatus | None = None,
    language: Annotated[LanguageCode | None, Query(description="Only whitepapers in this language")] = None,
    slug: Annotated[Slug | None, Query(description="Only the whitepaper with this slug")] = None,
    sort: SortParam = None,
) -> ListPage[WhitepaperStaffView] | ListPage[WhitepaperVisitorView]:
    """Published whitepapers for visitors; every live one, with more fields, for staff."""
    staff = principal is not None
    items, total = await service.list_whitepapers(
        session, params=params, published_only=not staff, status=status, language=language, slug=slug, sort=sort
    )
    views = await service.present(session, settings=settings, whitepapers=items, staff=staff)
    return ListPage(items=views, total=total, limit=params.limit, offset=params.offset)  # type: ignore[arg-type]


@router.post("", response_model=WhitepaperStaffView, status_code=status.HTTP_201_CREATED,
             responses=error_responses(401, 403, 409))
async def create_whitepaper(
    body: WhitepaperCreate, principal: CanWrite, session: WriteSession, settings: SettingsDep
) -> WhitepaperStaffView:
    """Create a whitepaper (editors); its document stops being reachable at its public media URL."""
    whitepaper = await service.create_whitepaper(session, settings=settings, actor=principal, data=body)
    [view] = await service.present(session, settings=settings, whitepapers=[whitepaper], staff=True)
    return view  # type: ignore[return-value]


@router.post(
    "/documents", response_model=media_api.MediaStaffView, status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY}, max_body_size=media_api.UPLOAD_BODY_LIMIT,
    responses={200: {"model": media_api.MediaStaffView, "description": "The same bytes were uploaded before"},
               **error_responses(401, 403, 413, 415)},
)
async def upload_whitepaper_document(
    request: Request, principal: CanWrite, session: WriteSession, settings: SettingsDep, response: Response
) -> media_api.MediaStaffView:
    """Upload a document (multipart field `file`) into the media store, private; use its `id` as document."""
    upload = await media_api.receive_upload(
        request, upload_dir=Path(settings.upload_dir), max_file_size=settings.max_file_size
    )
    try:
        item, created = await service.store_document(
            session, settings=settings, upload=upload, created_by=principal.user_id
        )
    finally:
        upload.discard()
    if not created:
        response.status_code = status.HTTP_200_OK
    return item


@router.get(
    "/{whitepaper_id}", response_model=WhitepaperStaffView | WhitepaperVisitorView,
    responses=error_responses(401, 404),
)
async def read_whitepaper(
    whitepaper_id: IdPath, principal: OptionalPrincipal, session: ReadSession, settings: SettingsDep
) -> WhitepaperStaffView | WhitepaperVisitorView:
    """One whitepaper: visitors see published ones only, never the document's URL."""
    staff = principal is not None
    whitepaper = await service.get_whitepaper(session, whitepaper_id=whitepaper_id, published_only=not staff)
    [view] = await service.present(session, settings=settings, whitepapers=[whitepaper], staff=staff)
    return view


@router.put("/{whitepaper_id}", response_model=WhitepaperStaffView, responses=error_responses(401, 403, 404, 409))
async def update_whitepaper(
    whitepaper_id: IdPath, body: WhitepaperUpdate, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> WhitepaperStaffView:
    """Change a whitepaper (editors); a new document becomes private too."""
    whitepaper = await service.update_whitepaper(session, settings=settings, whitepaper_id=whitepaper_id, data=body)
    [view] = await service.present(session, settings=settings, whitepapers=[whitepaper], staff=True)
    return view  # type: ignore[return-value]


@router.delete("/{whitepaper_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404))
async def delete_whitepaper(whitepaper_id: IdPath, _admin: CanDelete, session: WriteSession) -> None:
    """Soft-delete a whitepaper (admins); its leads are kept and its links stop working."""
    await service.delete_whitepaper(session, whitepaper_id=whitepaper_id)


@router.post(
    "/{whitepaper_id}/download", response_model=DownloadLink, status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(public_write_limit("whitepaper_download"))], responses=error_responses(404, 429),
)
async def download_whitepaper(
    whitepaper_id: IdPath, body: VisitorFields, session: WriteSession, settings: SettingsDep, events: EventBusDep,
) -> DownloadLink:
    """Leave your details to get a link to the document (valid 24 hours), also sent by email."""
    return await downloads.request_download(
        session, settings=settings, events=events, whitepaper_id=whitepaper_id, form=body
    )


@router.get(
    "/{whitepaper_id}/file", response_class=FileResponse, response_model=None,
    responses={**_FILE_RESPONSE, **error_responses(403, 404, 416)},
)
async def download_whitepaper_file(
    whitepaper_id: IdPath, request: Request, session: ReadSession, settings: SettingsDep, token: TokenParam = None
) -> FileResponse:
    """The document of a download link; a missing, invalid, expired or other whitepaper's token is a 403."""
    document = await downloads.document_for_token(session, settings=settings, whitepaper_id=whitepaper_id, token=token)
    return file_response(
        request, document.path, media_type=document.mime_type, filename=document.filename, disposition="attachment",
        # The URL carries the token: keep it out of caches and out of Referer headers.
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
                 "Referrer-Policy": "no-referrer"},
    )


@router.get(
    "/{whitepaper_id}/downloads", response_model=ListPage[LeadStaffView],
    responses={200: CSV_RESPONSE, **error_responses(401, 403, 404)},
)
async def list_whitepaper_downloads(
    whitepaper_id: IdPath, _reader: CanRead, session: ReadSession, database: DatabaseDep, params: Pagination,
    consent_marketing: Annotated[bool | None, Query(description="Only leads who did (not) consent")] = None,
    sort: LeadSortParam = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: every lead as a spreadsheet")] = "json",
) -> ListPage[LeadStaffView] | Response:
    """Who downloaded the whitepaper (one row per email), newest first; ?format=csv exports them all."""
    if format == "csv":
        statement = await downloads.export_statement(
            session, whitepaper_id=whitepaper_id, consent_marketing=consent_marketing, sort=sort
        )
        return csv_export(database, f"whitepaper-{whitepaper_id}-downloads.csv", downloads.CSV_COLUMNS, statement)
    items, total = await downloads.list_leads(
        session, whitepaper_id=whitepaper_id, params=params, consent_marketing=consent_marketing, sort=sort
    )
    return ListPage(
        items=[LeadStaffView.model_validate(i) for i in items], total=total, limit=params.limit, offset=params.offset
    )
