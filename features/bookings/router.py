"""HTTP layer of /api/v1/business/bookings and the visitor's cancellation link."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse

from features.bookings import cancel_page, service
from features.bookings.bounds import time_range
from features.bookings.mails import PUBLIC_PREFIX
from features.bookings.schemas import (
    Availability,
    BookingCreate,
    BookingStaffView,
    BookingStatus,
    BookingUpdate,
    BookingVisitorView,
    CancelResult,
    Duration,
)
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import error_responses
from shared.events import EventBusDep
from shared.export import CSV_RESPONSE, csv_export
from shared.http import MAX_ID, IdPath
from shared.link_pages import HEADERS as LINK_PAGE_HEADERS
from shared.link_pages import HTML_CONTENT, wants_json
from shared.pagination import ListPage, Pagination
from shared.permissions import CanRead, CanWrite
from shared.ratelimit import public_write_limit

router = APIRouter(
    prefix="/api/v1/business/bookings", tags=["bookings"], responses=error_responses(400, 422, 500)
)
public_router = APIRouter(prefix=PUBLIC_PREFIX, tags=["bookings"])

_TIME = "an ISO date (a whole day in BOOKING_TIMEZONE) or date-time; without an offset, BOOKING_TIMEZONE"
FromParam = Annotated[str | None, Query(alias="from", max_length=40, description=f"From: {_TIME}")]
ToParam = Annotated[str | None, Query(max_length=40, description=f"Until (a date includes that day): {_TIME}")]
_SORTS = "starts_at, created_at, updated_at, status, last_name or email; - for descending"
SortParam = Annotated[str | None, Query(max_length=40, description=_SORTS)]
DurationParam = Annotated[Duration | None, Query(description="Only starts where this many minutes are free")]
CancelToken = Annotated[str, Path(min_length=1, max_length=1024, description="The token from the visitor's mail")]
_STAFF = error_responses(401, 403)

CSV_COLUMNS = (
    "id", "status", "starts_at", "ends_at", "duration_minutes", "timezone", "topic", "message", "first_name",
    "last_name", "email", "company", "phone", "language", "consent_marketing", "assigned_to", "notes", "created_at",
)


@router.get("/availability", response_model=Availability)
async def read_availability(
    session: ReadSession, settings: SettingsDep, from_: FromParam = None, to: ToParam = None,
    duration_minutes: DurationParam = None,
) -> Availability:
    """Free slots (public) inside business hours and the booking window (BOOKING_MIN_NOTICE_HOURS to
    BOOKING_MAX_DAYS_AHEAD); `from` defaults to now, `to` to a week later, at most 31 days apart."""
    slots = await service.availability(
        session, settings=settings, raw_from=from_, raw_to=to, duration_minutes=duration_minutes
    )
    return Availability(slots=slots)


@router.post(
    "", response_model=BookingVisitorView, status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(public_write_limit("booking"))], responses=error_responses(409, 429),
)
async def create_booking(
    body: BookingCreate, session: WriteSession, settings: SettingsDep, events: EventBusDep
) -> BookingVisitorView:
    """Book a free slot (public): a pending booking; 409 SLOT_TAKEN if it overlaps another."""
    booking = await service.create_booking(session, settings=settings, events=events, data=body)
    return BookingVisitorView.model_validate(booking)


@router.get("", response_model=ListPage[BookingStaffView], responses={200: CSV_RESPONSE, **_STAFF})
async def list_bookings(
    _reader: CanRead, session: ReadSession, database: DatabaseDep, settings: SettingsDep, params: Pagination,
    status: BookingStatus | None = None, from_: FromParam = None, to: ToParam = None,
    assigned_to: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this user's bookings")] = None,
    sort: SortParam = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: every match as a download")] = "json",
) -> ListPage[BookingStaffView] | Response:
    """Bookings by start time (staff); filter by status, start between from and to, or assignee."""
    start, end = time_range(from_, to, service.rules_for(settings))
    filters = {"status": status, "start": start, "end": end, "assigned_to": assigned_to, "sort": sort}
    if format == "csv":
        return csv_export(database, "bookings.csv", CSV_COLUMNS, service.export_statement(**filters))
    items, total = await service.list_bookings(session, params=params, **filters)
    return ListPage(
        items=[BookingStaffView.model_validate(b) for b in items], total=total, limit=params.limit, offset=params.offset
    )


@router.get("/{booking_id}", response_model=BookingStaffView, responses={**_STAFF, **error_responses(404)})
async def read_booking(booking_id: IdPath, _reader: CanRead, session: ReadSession) -> BookingStaffView:
    """One booking (staff only: visitors never read a booking by id)."""
    return BookingStaffView.model_validate(await service.get_booking(session, booking_id=booking_id))


@router.put("/{booking_id}", response_model=BookingStaffView, responses={**_STAFF, **error_responses(404, 409)})
async def update_booking(
    booking_id: IdPath, body: BookingUpdate, _writer: CanWrite, session: WriteSession, settings: SettingsDep,
) -> BookingStaffView:
    """Change status (pending → confirmed | cancelled; confirmed → completed | cancelled | no_show, else 409
    INVALID_TRANSITION), assignee or notes; confirming or cancelling mails the visitor."""
    booking = await service.update_booking(session, settings=settings, booking_id=booking_id, data=body)
    return BookingStaffView.model_validate(booking)


@public_router.get(
    "/cancel/{token}", response_class=HTMLResponse,
    responses={200: {"content": HTML_CONTENT, "description": "A page showing the booking and a cancel button"},
               **error_responses(404, 422, 500)},
)
async def show_cancel_page(token: CancelToken, session: ReadSession, settings: SettingsDep) -> HTMLResponse:
    """What the visitor's link would cancel; opening it changes nothing (404 for an invalid or expired link)."""
    booking = await service.booking_for_cancel_link(session, settings=settings, token=token)
    return HTMLResponse(cancel_page.preview_page(booking), headers=LINK_PAGE_HEADERS)


@public_router.post(
    "/cancel/{token}", response_model=CancelResult, dependencies=[Depends(public_write_limit("booking_cancel"))],
    responses={200: {"content": HTML_CONTENT, "description": "Cancelled (HTML, or JSON for Accept: application/json)"},
               **error_responses(404, 409, 422, 429, 500)},
)
async def cancel_booking(
    token: CancelToken, request: Request, session: WriteSession, settings: SettingsDep
) -> Response:
    """Cancel the visitor's own booking (idempotent); 404 for an invalid or expired link."""
    booking, changed = await service.cancel_by_visitor(session, settings=settings, token=token)
    if wants_json(request):
        result = CancelResult(
            id=booking.id, status=booking.status, starts_at=booking.starts_at, already_cancelled=not changed
        )
        return JSONResponse(result.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    return HTMLResponse(cancel_page.cancelled_page(booking, already=not changed), headers=LINK_PAGE_HEADERS)
