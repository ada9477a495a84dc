"""Registrations: a visitor takes a seat (a lead), staff list and export them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, bindparam, exists, func, insert, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.errors import WebinarCancelled, WebinarFull, WebinarNotOpen, WebinarStarted
from features.webinars.mails import CONFIRMATION, RegistrationMail
from features.webinars.models import Webinar, WebinarRegistration
from features.webinars.schemas import RegistrationRequest, RegistrationVisitorView
from features.webinars.service import get_webinar
from shared.config import Settings
from shared.db import UTCDateTime, utcnow
from shared.dialect import DriverStatement, serialize_on
from shared.errors import NotFound
from shared.events import EventBus
from shared.i18n import served_language
from shared.leads import capture_lead, visitor_from_form
from shared.pagination import ListParams, paginate, sort_order

SORT_COLUMNS = {
    "created_at": WebinarRegistration.created_at, "email": WebinarRegistration.email_normalized,
    "last_name": WebinarRegistration.last_name,
}
EXPORT_COLUMNS = (
    "id", "webinar_id", "email", "first_name", "last_name", "company", "language", "consent_marketing", "created_at",
)


# The hot statement is plain Core over the tables, not the ORM classes: SQLAlchemy derives a
# cache key from the statement on every execution, and ORM-annotated columns make that walk
# cost about as much as the rest of the request's database work.
_webinars = Webinar.__table__.c
_registrations = WebinarRegistration.__table__.c
SEAT_COUNT = (
    select(func.count())
    .select_from(WebinarRegistration.__table__)
    .where(_registrations.webinar_id == _webinars.id)
    .correlate(Webinar.__table__)
    .scalar_subquery()
)
ALREADY_REGISTERED = exists().where(
    _registrations.webinar_id == _webinars.id, _registrations.email_normalized == bindparam("email_normalized")
)
_VISITOR_COLUMNS = ("first_name", "last_name", "email", "email_normalized", "company", "language")
# Every rule and the insert in one statement, built once. It writes, so it runs holding
# SQLite's write lock: the seat count and the insert cannot interleave with another registration.
_REGISTER_IF_OPEN = (
    insert(WebinarRegistration.__table__)
    .from_select(
        ["webinar_id", *_VISITOR_COLUMNS, "consent_marketing", "created_at"],
        select(
            _webinars.id,
            *(bindparam(name, type_=String) for name in _VISITOR_COLUMNS),
            bindparam("consent_marketing", type_=Boolean),
            bindparam("created_at", type_=UTCDateTime),
        ).where(
            _webinars.id == bindparam("webinar_id"),
            _webinars.status == "published",
            _webinars.starts_at > bindparam("created_at", type_=UTCDateTime),
            or_(_webinars.capacity.is_(None), _webinars.capacity > SEAT_COUNT),
            ~ALREADY_REGISTERED,
        ),
    )
    .returning(_registrations.id)
)
_REGISTER = DriverStatement(_REGISTER_IF_OPEN)


def _refuse_unless_open(webinar: Webinar) -> None:
    if webinar.status == "cancelled":
        raise WebinarCancelled()
    if webinar.status != "published":
        raise WebinarNotOpen()
    if utcnow() >= webinar.starts_at:
        raise WebinarStarted()


async def register(
    session: AsyncSession, *, settings: Settings, bus: EventBus, webinar_id: int, data: RegistrationRequest
) -> tuple[RegistrationVisitorView, bool]:
    """Registers a visitor; returns the registration and whether it is new (False: already registered).

    The fast path is one INSERT ... SELECT that checks every rule; only when it inserts
    nothing do we look at why (not found, not open, already registered, full).
    """
    visitor = visitor_from_form(data, language=served_language(data.language, settings))
    created_at = utcnow()
    row = {**visitor.as_dict(), "email_normalized": visitor.email, "created_at": created_at, "webinar_id": webinar_id}
    await serialize_on(session, f"webinar-seats:{webinar_id}")  # PostgreSQL: the count and insert below, alone
    inserted = await _REGISTER.fetchall(session, row)
    if not inserted:
        # A repeat registration records nothing, so it is no news for capture_lead either.
        existing = await _explain_refusal(session, webinar_id=webinar_id, email_normalized=visitor.email)
        return RegistrationVisitorView.model_validate(existing), False
    registration_id = inserted[0][0]
    # The confirmation is rendered when it is sent: this request stores one small row.
    await CONFIRMATION.queue(session, recipient=visitor.email, params=RegistrationMail(registration_id=registration_id))
    await capture_lead(session, bus, source=f"webinar:{webinar_id}", visitor=visitor, consent_before=None)
    return RegistrationVisitorView(
        id=registration_id, webinar_id=webinar_id, email=visitor.email, created_at=created_at
    ), True


async def _explain_refusal(session: AsyncSession, *, webinar_id: int, email_normalized: str) -> WebinarRegistration:
    """Why the insert did nothing: raises the refusal, or returns the earlier registration."""
    webinar = await session.get(Webinar, webinar_id)
    if webinar is None:
        raise NotFound("Webinar not found")
    _refuse_unless_open(webinar)
    existing = await session.exec(
        select(WebinarRegistration).where(
            WebinarRegistration.webinar_id == webinar_id, WebinarRegistration.email_normalized == email_normalized
        )
    )
    registration = existing.first()
    if registration is not None:
        return registration
    raise WebinarFull()


def _registrations_of(webinar_id: int, consent_marketing: bool | None):
    statement = select(WebinarRegistration).where(WebinarRegistration.webinar_id == webinar_id)
    if consent_marketing is not None:
        statement = statement.where(WebinarRegistration.consent_marketing == consent_marketing)
    return statement


def _order(sort: str | None) -> list[Any]:
    return sort_order(sort, SORT_COLUMNS, [col(WebinarRegistration.created_at), col(WebinarRegistration.id)])


async def list_registrations(
    session: AsyncSession, *, webinar_id: int, params: ListParams, consent_marketing: bool | None = None,
    sort: str | None = None,
) -> tuple[list[WebinarRegistration], int]:
    """A webinar's registrants, in order of registration unless sorted otherwise."""
    order = _order(sort)
    await get_webinar(session, webinar_id=webinar_id)
    statement = _registrations_of(webinar_id, consent_marketing)
    return await paginate(session, statement=statement, params=params, order_by=order)


async def export_statement(
    session: AsyncSession, *, webinar_id: int, consent_marketing: bool | None = None, sort: str | None = None
) -> Any:
    """What selects every registrant of a webinar (not just one page), for the CSV export."""
    await get_webinar(session, webinar_id=webinar_id)
    return _registrations_of(webinar_id, consent_marketing).order_by(*_order(sort))
