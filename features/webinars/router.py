"""HTTP layer of /api/v1/business/webinars: public reads and registration, staff writes."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from features.webinars import registrations, service
from features.webinars.schemas import (
    AnyWebinarView,
    RegistrationRequest,
    RegistrationStaffView,
    RegistrationVisitorView,
    WebinarCreate,
    WebinarStaffListPage,
    WebinarStaffView,
    WebinarStatus,
    WebinarUpdate,
    WebinarVisitorListPage,
    When,
)
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import error_responses
from shared.events import EventBusDep
from shared.export import CSV_RESPONSE, csv_export
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite, OptionalPrincipal, Permission, Principal
from shared.ratelimit import public_write_limit

router = APIRouter(
    prefix="/api/v1/business/webinars", tags=["webinars"], responses=error_responses(400, 401, 422, 500)
)

WebinarSort = Annotated[
    str | None, Query(max_length=32, description="starts_at, created_at, updated_at or slug; - for descending")
]
RegistrationSort = Annotated[
    str | None, Query(max_length=32, description="created_at, email or last_name; - for descending")
]
ExportFormat = Annotated[Literal["json", "csv"], Query(description="`csv` exports every matching registrant")]
_VIEW_200 = {"model": AnyWebinarView, "description": "The webinar; staff also see `join_url` and counts"}
_LIST_200 = {
    "model": WebinarStaffListPage | WebinarVisitorListPage,
    "description": "Staff see every webinar with `join_url`; visitors published ones without it",
}


def _is_staff(principal: Principal | None) -> bool:
    return principal is not None and principal.can(Permission.READ)


@router.get("", response_model=None, responses={200: _LIST_200})
async def list_webinars(
    principal: OptionalPrincipal,
    session: ReadSession,
    params: Pagination,
    when: Annotated[When | None, Query(description="upcoming (not yet started) or past")] = None,
    status: Annotated[WebinarStatus | None, Query(description="Staff only; visitors see published ones")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search in titles of every language")] = None,
    sort: WebinarSort = None,
) -> WebinarStaffListPage | WebinarVisitorListPage:
    """List webinars, upcoming first (soonest first), then past ones (latest first)."""
    staff = _is_staff(principal)
    rows, total = await service.list_webinars(
        session, params=params, staff=staff, status=status, when=when, q=q, sort=sort
    )
    items = [service.to_view(webinar, count, staff=staff) for webinar, count in rows]
    list_class = WebinarStaffListPage if staff else WebinarVisitorListPage
    return list_class.model_validate({"items": items, "total": total, "limit": params.limit, "offset": params.offset})


@router.post(
    "", response_model=WebinarStaffView, status_code=status.HTTP_201_CREATED, responses=error_responses(403, 409)
)
async def create_webinar(
    body: WebinarCreate, principal: CanWrite, session: WriteSession, settings: SettingsDep
) -> AnyWebinarView:
    """Create a webinar (editors and admins); publishing needs a `join_url`."""
    webinar = await service.create_webinar(session, settings=settings, actor=principal, data=body)
    return service.to_view(webinar, 0, staff=True)


@router.get("/{webinar_id}", response_model=None, responses={200: _VIEW_200, **error_responses(404)})
async def read_webinar(webinar_id: IdPath, principal: OptionalPrincipal, session: ReadSession) -> AnyWebinarView:
    """One webinar; visitors get published ones only, never with the join link."""
    staff = _is_staff(principal)
    webinar = await service.get_webinar(session, webinar_id=webinar_id, staff=staff)
    return service.to_view(webinar, await service.registration_count(session, webinar_id=webinar_id), staff=staff)


@router.put("/{webinar_id}", response_model=WebinarStaffView, responses=error_responses(403, 404, 409))
async def update_webinar(
    webinar_id: IdPath, body: WebinarUpdate, _editor: CanWrite, session: WriteSession, settings: SettingsDep,
) -> AnyWebinarView:
    """Change a webinar; `status: cancelled` is final and mails every registrant once."""
    webinar, _ = await service.update_webinar(session, settings=settings, webinar_id=webinar_id, data=body)
    return service.to_view(webinar, await service.registration_count(session, webinar_id=webinar_id), staff=True)


@router.delete(
    "/{webinar_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 404, 409)
)
async def delete_webinar(webinar_id: IdPath, _admin: CanDelete, session: WriteSession) -> None:
    """Delete a webinar (admins); refused with 409 IN_USE once anyone registered (cancel it instead)."""
    await service.delete_webinar(session, webinar_id=webinar_id)


@router.post(
    "/{webinar_id}/register",
    response_model=RegistrationVisitorView,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(public_write_limit("webinar_register"))],
    responses={
        200: {"model": RegistrationVisitorView, "description": "Already registered: the earlier registration"},
        **error_responses(404, 409, 429),
    },
)
async def register_for_webinar(
    webinar_id: IdPath, body: RegistrationRequest, session: WriteSession, settings: SettingsDep, bus: EventBusDep,
    response: Response,
) -> RegistrationVisitorView:
    """Register for a published, upcoming webinar (no account needed); mails a confirmation with an invite."""
    registration, created = await registrations.register(
        session, settings=settings, bus=bus, webinar_id=webinar_id, data=body
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return registration


@router.get(
    "/{webinar_id}/registrations",
    response_model=ListPage[RegistrationStaffView],
    responses={200: CSV_RESPONSE, **error_responses(403, 404)},
)
async def list_webinar_registrations(
    webinar_id: IdPath, _reader: CanRead, session: ReadSession, database: DatabaseDep, params: Pagination,
    consent_marketing: Annotated[bool | None, Query(description="Only those who did (not) agree to marketing")] = None,
    sort: RegistrationSort = None,
    format: ExportFormat = "json",
) -> ListPage[RegistrationStaffView] | Response:
    """A webinar's registrants (staff); `?format=csv` exports all of them."""
    if format == "csv":
        statement = await registrations.export_statement(
            session, webinar_id=webinar_id, consent_marketing=consent_marketing, sort=sort
        )
        return csv_export(
            database, f"webinar-{webinar_id}-registrations.csv", registrations.EXPORT_COLUMNS, statement
        )
    items, total = await registrations.list_registrations(
        session, webinar_id=webinar_id, params=params, consent_marketing=consent_marketing, sort=sort
    )
    return ListPage(
        items=[RegistrationStaffView.model_validate(r) for r in items], total=total,
        limit=params.limit, offset=params.offset,
    )
