"""HTTP layer of /api/v1/content/pages (staff)."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from features.pages import service
from features.pages.cache import clears_cache
from features.pages.schemas import PageCreate, PageStaffView, PageStatus, PageUpdate, RevisionStaffView
from shared.config import SettingsDep
from shared.db import ReadSession, WriteSession
from shared.errors import PermissionDenied, error_responses
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite, Permission

router = APIRouter(
    prefix="/api/v1/content/pages", tags=["pages"], responses=error_responses(400, 401, 403, 422, 500)
)
_writes = [clears_cache(service.CACHE_NAMESPACE)]

SortParam = Annotated[str | None, Query(description="created_at, updated_at, published_at or slug; - descending")]
IfMatch = Annotated[str | None, Header(description="The ETag you last read; a stale one is refused with 412")]


def _staff_view(page, response: Response) -> PageStaffView:
    response.headers["ETag"] = service.etag_for(page)
    return PageStaffView.model_validate(page)


@router.get("", response_model=ListPage[PageStaffView])
async def list_pages(
    principal: CanRead,
    session: ReadSession,
    params: Pagination,
    status: PageStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Search in titles of every language")] = None,
    sort: SortParam = None,
    include_deleted: Annotated[bool, Query(description="Admins only: include deleted pages")] = False,
) -> ListPage[PageStaffView]:
    """List pages, newest first."""
    if include_deleted and not principal.can(Permission.ADMIN):
        raise PermissionDenied("Only admins see deleted pages")
    items, total = await service.list_pages(
        session, params=params, status=status, q=q, sort=sort, include_deleted=include_deleted
    )
    return ListPage(
        items=[PageStaffView.model_validate(p) for p in items], total=total, limit=params.limit, offset=params.offset
    )


@router.post(
    "", response_model=PageStaffView, status_code=status.HTTP_201_CREATED, responses=error_responses(409),
    dependencies=_writes,
)
async def create_page(
    body: PageCreate, principal: CanWrite, session: WriteSession, settings: SettingsDep, response: Response
) -> PageStaffView:
    """Create a page; `status=published` publishes it now, `scheduled` at `publish_at`."""
    return _staff_view(await service.create_page(session, settings=settings, actor=principal, data=body), response)


@router.get("/{page_id}", response_model=PageStaffView, responses=error_responses(404))
async def read_page(page_id: IdPath, _reader: CanRead, session: ReadSession, response: Response) -> PageStaffView:
    """One page, with its ETag for a later conditional update."""
    return _staff_view(await service.get_page(session, page_id=page_id), response)


@router.put("/{page_id}", response_model=PageStaffView, responses=error_responses(404, 409, 412), dependencies=_writes)
async def update_page(
    page_id: IdPath, body: PageUpdate, principal: CanWrite, session: WriteSession, settings: SettingsDep,
    response: Response, if_match: IfMatch = None,
) -> PageStaffView:
    """Change a page; the previous version is kept as a revision."""
    page = await service.update_page(
        session, settings=settings, actor=principal, page_id=page_id, data=body, if_match=if_match
    )
    return _staff_view(page, response)


@router.delete(
    "/{page_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404), dependencies=_writes
)
async def delete_page(page_id: IdPath, _admin: CanDelete, session: WriteSession) -> None:
    """Soft-delete a page (admins); it can be restored."""
    await service.delete_page(session, page_id=page_id)


@router.post(
    "/{page_id}/restore", response_model=PageStaffView, responses=error_responses(404, 409), dependencies=_writes
)
async def restore_page(page_id: IdPath, _admin: CanDelete, session: WriteSession, response: Response) -> PageStaffView:
    """Bring a deleted page back (admins); refused if its slug has been taken meanwhile."""
    return _staff_view(await service.restore_page(session, page_id=page_id), response)


@router.get("/{page_id}/revisions", response_model=ListPage[RevisionStaffView], responses=error_responses(404))
async def list_page_revisions(
    page_id: IdPath, _reader: CanRead, session: ReadSession, params: Pagination
) -> ListPage[RevisionStaffView]:
    """Earlier versions of a page, newest first, with who saved over them and when."""
    items, total = await service.list_revisions(session, page_id=page_id, params=params)
    return ListPage(
        items=[RevisionStaffView.model_validate(r) for r in items], total=total,
        limit=params.limit, offset=params.offset,
    )


@router.post(
    "/{page_id}/revisions/{revision}/restore", response_model=PageStaffView, responses=error_responses(404, 412),
    dependencies=_writes,
)
async def restore_page_revision(
    page_id: IdPath, revision: IdPath, principal: CanWrite, session: WriteSession, response: Response,
    if_match: IfMatch = None,
) -> PageStaffView:
    """Restore the text of an earlier revision, as a new revision."""
    page = await service.restore_revision(
        session, actor=principal, page_id=page_id, revision=revision, if_match=if_match
    )
    return _staff_view(page, response)
