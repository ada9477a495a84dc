"""Bookings: free slots, booking one (never two in a slot), the staff's state machine, visitor cancellation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth import api as auth_api
from features.bookings import mails
from features.bookings.bounds import time_range
from features.bookings.calendar_rules import (
    BusinessHours,
    booking_window,
    business_hours,
    misfit,
    overlaps,
    slot_starts,
    spec_problems,
)
from features.bookings.errors import CancelLinkInvalid, InvalidTransition, SlotTaken
from features.bookings.models import ACTIVE_STATUSES, Booking
from features.bookings.schemas import BookingCreate, BookingUpdate, Slot
from shared.config import Settings
from shared.db import utcnow
from shared.dialect import serialize_on, unique_violation_columns
from shared.errors import NotFound, ValidationFailed
from shared.events import EventBus
from shared.i18n import served_language
from shared.leads import capture_lead, visitor_from_form
from shared.pagination import ListParams, paginate, sort_order

MAX_RANGE = timedelta(days=31)
AVAILABILITY_SPAN = timedelta(days=7)
TRANSITIONS = {
    "pending": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"completed", "cancelled", "no_show"}),
}
SORT_COLUMNS = {
    "starts_at": Booking.starts_at, "created_at": Booking.created_at, "updated_at": Booking.updated_at,
    "status": Booking.status, "last_name": Booking.last_name, "email": Booking.email,
}
DEFAULT_ORDER = [col(Booking.starts_at).asc(), col(Booking.id).asc()]


def rules_for(settings: Settings) -> BusinessHours:
    return business_hours(
        settings.booking_timezone, settings.booking_days, settings.booking_hours, settings.booking_slot_minutes
    )


def settings_problem(settings: Settings) -> str | None:
    """Why BOOKING_TIMEZONE, BOOKING_DAYS or BOOKING_HOURS cannot be read, or None: refused at start."""
    problems = spec_problems(settings.booking_timezone, settings.booking_days, settings.booking_hours)
    return "; ".join(problems) or None


def _window(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    return booking_window(
        now, min_notice_hours=settings.booking_min_notice_hours, max_days_ahead=settings.booking_max_days_ahead
    )


# --- availability and booking -----------------------------------------------------------------


async def _busy(session: AsyncSession, *, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Intervals held by pending or confirmed bookings that overlap [start, end)."""
    rows = await session.exec(
        select(Booking.starts_at, Booking.ends_at).where(
            col(Booking.status).in_(ACTIVE_STATUSES), Booking.starts_at < end, Booking.ends_at > start
        )
    )
    return [(starts_at, ends_at) for starts_at, ends_at in rows.all()]


async def free_slots(
    session: AsyncSession, *, settings: Settings, start: datetime, end: datetime, duration_minutes: int | None = None,
    now: datetime | None = None,
) -> list[Slot]:
    """Bookable starts in [start, end): on the grid, inside hours, in the window, not overlapping a booking."""
    rules = rules_for(settings)
    earliest, latest = _window(settings, now or utcnow())
    length = timedelta(minutes=duration_minutes) if duration_minutes else rules.slot
    start, end = max(start, earliest), min(end, latest + timedelta(microseconds=1))
    if start >= end:
        return []
    busy = await _busy(session, start=start, end=end + length)
    return [
        Slot(starts_at=slot, ends_at=slot + length)
        for slot in slot_starts(rules, start, end, length)
        if not overlaps(slot, slot + length, busy)
    ]


async def availability(
    session: AsyncSession, *, settings: Settings, raw_from: str | None, raw_to: str | None,
    duration_minutes: int | None = None, now: datetime | None = None,
) -> list[Slot]:
    """Free slots between query bounds: `from` defaults to now, `to` to a week later; 31 days at most."""
    now = now or utcnow()
    start, end = time_range(raw_from, raw_to, rules_for(settings))
    start = start or now
    end = end or start + AVAILABILITY_SPAN
    if end - start > MAX_RANGE:
        raise ValidationFailed(f"to: at most {MAX_RANGE.days} days after from", field="to")
    if end <= start:
        raise ValidationFailed("to: must be after from", field="to")
    return await free_slots(
        session, settings=settings, start=start, end=end, duration_minutes=duration_minutes, now=now
    )


def _check_bookable(settings: Settings, starts_at: datetime, length: timedelta, now: datetime) -> None:
    earliest, latest = _window(settings, now)
    if starts_at < earliest:
        raise ValidationFailed(
            f"Bookings need {settings.booking_min_notice_hours} hours notice; pick a later slot", field="starts_at"
        )
    if starts_at > latest:
        raise ValidationFailed(
            f"Bookings open {settings.booking_max_days_ahead} days ahead; pick an earlier slot", field="starts_at"
        )
    refusal = misfit(rules_for(settings), starts_at, length)
    if refusal is not None:
        field, reason = refusal
        raise ValidationFailed(reason, field=field)


async def create_booking(
    session: AsyncSession, *, settings: Settings, events: EventBus, data: BookingCreate, now: datetime | None = None
) -> Booking:
    """A pending booking, its lead event and its 'received' mail, all in the caller's transaction.

    The overlap check and the insert share one write transaction (BEGIN IMMEDIATE on SQLite),
    so concurrent requests for one slot are serialized and only the first finds it free."""
    length = timedelta(minutes=data.duration_minutes)
    _check_bookable(settings, data.starts_at, length, now or utcnow())
    ends_at = data.starts_at + length
    await serialize_on(session, "bookings-calendar")  # PostgreSQL: the overlap check and the insert, alone
    if await _busy(session, start=data.starts_at, end=ends_at):
        raise SlotTaken(field="starts_at")
    visitor = visitor_from_form(data, language=served_language(data.language, settings))
    booking = Booking(
        **visitor.as_dict(), **data.model_dump(include={"topic", "message", "phone", "starts_at", "duration_minutes"}),
        timezone=data.timezone or settings.booking_timezone, ends_at=ends_at,
    )
    session.add(booking)
    try:
        await session.flush()
    except IntegrityError as exc:
        if unique_violation_columns(exc) == {"starts_at"}:  # uq_bookings_active_start: another won the slot
            raise SlotTaken(field="starts_at") from exc
        raise
    # Every booking is a record of its own, so each is news.
    await capture_lead(session, events, source=f"booking:{booking.id}", visitor=visitor, consent_before=None)
    await mails.queue(session, booking=booking, kind="received")
    return booking


# --- staff ------------------------------------------------------------------------------------


def _filtered(*, status: str | None, start: datetime | None, end: datetime | None, assigned_to: int | None):
    statement = select(Booking)
    if status:
        statement = statement.where(Booking.status == status)
    if start:
        statement = statement.where(Booking.starts_at >= start)
    if end:
        statement = statement.where(Booking.starts_at < end)
    if assigned_to:
        statement = statement.where(Booking.assigned_to == assigned_to)
    return statement


async def list_bookings(
    session: AsyncSession, *, params: ListParams, status: str | None = None, start: datetime | None = None,
    end: datetime | None = None, assigned_to: int | None = None, sort: str | None = None,
) -> tuple[list[Booking], int]:
    statement = _filtered(status=status, start=start, end=end, assigned_to=assigned_to)
    order = sort_order(sort, SORT_COLUMNS, DEFAULT_ORDER)
    return await paginate(session, statement=statement, params=params, order_by=order)


def export_statement(
    *, status: str | None = None, start: datetime | None = None, end: datetime | None = None,
    assigned_to: int | None = None, sort: str | None = None,
) -> Any:
    """What selects every booking the filters match, for the CSV export."""
    statement = _filtered(status=status, start=start, end=end, assigned_to=assigned_to)
    return statement.order_by(*sort_order(sort, SORT_COLUMNS, DEFAULT_ORDER))


async def get_booking(session: AsyncSession, *, booking_id: int) -> Booking:
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("Booking not found")
    return booking


async def _ensure_assignable(session: AsyncSession, *, user_id: int) -> None:
    try:
        user = await auth_api.get_user(session, user_id=user_id)
    except NotFound as exc:
        raise ValidationFailed("No such user", field="assigned_to") from exc
    if not user.is_active or user.deleted_at is not None:
        raise ValidationFailed("This user is not active", field="assigned_to")


async def _change_status(session: AsyncSession, *, settings: Settings, booking: Booking, status: str) -> None:
    if status not in TRANSITIONS.get(booking.status, ()):
        raise InvalidTransition(f"A {booking.status} booking cannot become {status}", field="status")
    booking.status = status
    if status in ("confirmed", "cancelled"):
        await mails.queue(session, booking=booking, kind=status)


async def update_booking(session: AsyncSession, *, settings: Settings, booking_id: int, data: BookingUpdate) -> Booking:
    """Staff changes; a status change must follow the state machine (resending the current one is no change)."""
    booking = await get_booking(session, booking_id=booking_id)
    changes = data.model_dump(exclude_unset=True)
    if "status" in changes:
        if changes["status"] is None:
            raise ValidationFailed("status cannot be null", field="status")
        if changes["status"] != booking.status:
            await _change_status(session, settings=settings, booking=booking, status=changes["status"])
    if "assigned_to" in changes:
        if changes["assigned_to"] is not None:
            await _ensure_assignable(session, user_id=changes["assigned_to"])
        booking.assigned_to = changes["assigned_to"]
    if "notes" in changes:
        booking.notes = changes["notes"]
    booking.updated_at = utcnow()
    session.add(booking)
    await session.flush()
    return booking


# --- the visitor's own cancellation link ------------------------------------------------------


async def booking_for_cancel_link(session: AsyncSession, *, settings: Settings, token: str) -> Booking:
    """The booking a cancellation token was made for; 404 for a forged, expired or stale one."""
    booking_id = mails.booking_id_from_token(settings, token)
    booking = await session.get(Booking, booking_id) if booking_id else None
    if booking is None:
        raise CancelLinkInvalid()
    return booking


async def cancel_by_visitor(session: AsyncSession, *, settings: Settings, token: str) -> tuple[Booking, bool]:
    """Cancels the token's booking and mails the visitor; a second time changes nothing (False)."""
    booking = await booking_for_cancel_link(session, settings=settings, token=token)
    if booking.status == "cancelled":
        return booking, False
    await _change_status(session, settings=settings, booking=booking, status="cancelled")
    booking.updated_at = utcnow()
    session.add(booking)
    await session.flush()
    return booking, True
