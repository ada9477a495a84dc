"""Registrations: a visitor takes a seat (a lead), staff list and export them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.errors import WebinarCancelled, WebinarFull, WebinarNotOpen, WebinarStarted
from features.webinars.mails import confirmation_message
from features.webinars.models import Webinar, WebinarRegistration
from features.webinars.schemas import RegistrationRequest
from features.webinars.service import get_webinar
from shared.config import Settings
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.events import EventBus, LeadCaptured
from shared.i18n import served_language
from shared.mail import queue_mail
from shared.pagination import PageParams, paginate, sort_order

SORT_COLUMNS = {
    "created_at": WebinarRegistration.created_at, "email": WebinarRegistration.email_normalized,
    "last_name": WebinarRegistration.last_name,
}
EXPORT_COLUMNS = (
    "id", "webinar_id", "email", "first_name", "last_name", "company", "language", "consent_marketing", "created_at",
)
MAX_EXPORT_ROWS = 100_000


# Built once: composing it per request would cost about as much CPU as running it.
_REGISTRATION_LOOKUP = select(
    Webinar,
    select(func.count())
    .select_from(WebinarRegistration)
    .where(WebinarRegistration.webinar_id == Webinar.id)
    .correlate(Webinar)
    .scalar_subquery(),
    select(WebinarRegistration.id)
    .where(
        WebinarRegistration.webinar_id == Webinar.id,
        WebinarRegistration.email_normalized == bindparam("email"),
    )
    .correlate(Webinar)
    .scalar_subquery(),
).where(Webinar.id == bindparam("webinar_id"))


def _refuse_unless_open(webinar: Webinar) -> None:
    if webinar.status == "cancelled":
        raise WebinarCancelled()
    if webinar.status != "published":
        raise WebinarNotOpen()
    if utcnow() >= webinar.starts_at:
        raise WebinarStarted()


async def register(
    session: AsyncSession, settings: Settings, bus: EventBus, webinar_id: int, data: RegistrationRequest
) -> tuple[WebinarRegistration, bool]:
    """Registers a visitor; returns the registration and whether it is new (False: already registered).

    Must run in a write transaction that holds the write lock from its first statement (the
    kernel's BEGIN IMMEDIATE): counting the seats and inserting then cannot interleave with
    another registration, so the capacity holds under any concurrency.
    """
    email_key = data.normalized_email
    # One round trip for the webinar, its seat count and this visitor's earlier registration.
    lookup = await session.exec(_REGISTRATION_LOOKUP, params={"webinar_id": webinar_id, "email": email_key})
    row = lookup.first()
    if row is None:
        raise NotFound("Webinar not found")
    webinar, taken, existing_id = row
    _refuse_unless_open(webinar)
    if existing_id is not None:
        existing = await session.get(WebinarRegistration, existing_id)
        if existing is not None:
            return existing, False
    if webinar.capacity is not None and taken >= webinar.capacity:
        raise WebinarFull()

    language = served_language(data.language, settings)
    registration = WebinarRegistration(
        webinar_id=webinar_id, first_name=data.first_name, last_name=data.last_name, email=str(data.email),
        email_normalized=email_key, company=data.company, language=language,
        consent_marketing=data.consent_marketing,
    )
    session.add(registration)
    try:
        # queue_mail flushes: the registration and its mail are written together, or neither is.
        await queue_mail(session, confirmation_message(webinar, registration, settings))
    except IntegrityError as exc:  # only without up-front write locks (not SQLite): a twin request won the race
        raise Conflict("A registration for this address was just made; try again", field="email") from exc
    await bus.publish(
        LeadCaptured(
            email=registration.email, first_name=registration.first_name, last_name=registration.last_name,
            company=registration.company, language=language, consent_marketing=registration.consent_marketing,
            source=f"webinar:{webinar_id}",
        ),
        session,
    )
    return registration, True


def _registrations_of(webinar_id: int, consent_marketing: bool | None):
    statement = select(WebinarRegistration).where(WebinarRegistration.webinar_id == webinar_id)
    if consent_marketing is not None:
        statement = statement.where(WebinarRegistration.consent_marketing == consent_marketing)
    return statement


def _order(sort: str | None) -> list[Any]:
    return sort_order(sort, SORT_COLUMNS, [col(WebinarRegistration.created_at), col(WebinarRegistration.id)])


async def list_registrations(
    session: AsyncSession, webinar_id: int, params: PageParams, *, consent_marketing: bool | None = None,
    sort: str | None = None,
) -> tuple[list[WebinarRegistration], int]:
    """A webinar's registrants, in order of registration unless sorted otherwise."""
    order = _order(sort)
    await get_webinar(session, webinar_id)
    return await paginate(session, _registrations_of(webinar_id, consent_marketing), params, order)


async def export_rows(
    session: AsyncSession, webinar_id: int, *, consent_marketing: bool | None = None, sort: str | None = None
) -> list[Sequence[Any]]:
    """Every registrant of a webinar (not just one page) as rows of EXPORT_COLUMNS."""
    order = _order(sort)
    await get_webinar(session, webinar_id)
    statement = _registrations_of(webinar_id, consent_marketing).order_by(*order).limit(MAX_EXPORT_ROWS)
    registrations = (await session.exec(statement)).all()
    return [[getattr(registration, name) for name in EXPORT_COLUMNS] for registration in registrations]
