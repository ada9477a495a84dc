"""Mails to registrants, rendered when sent from the texts in mail_texts/ (en, de; the kernel's language rule).

Both are queued as a template and a registration id: the confirmation says what holds when it
is sent (a moved join link is the new one) and the cancellation likewise.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.models import Webinar, WebinarRegistration
from shared.calendar import ics_invite, invite_uid
from shared.config import Settings
from shared.i18n import translate
from shared.mail import ascii_address
from shared.mail_templates import Draft, MailTemplate, Rendered, ServedLanguage

TEXTS = Path(__file__).parent / "mail_texts"


class RegistrationMail(BaseModel):
    registration_id: int


def _draft(webinar: Webinar, registration: WebinarRegistration, settings: Settings, language: str, *,
           cancelled: bool) -> Draft:
    local_start = webinar.starts_at.astimezone(ZoneInfo(webinar.timezone))
    title = translate(webinar.title, language, settings.default_language) or webinar.slug
    recipient = ascii_address(registration.email)

    def invite(rendered: Rendered) -> tuple[Any, ...]:
        return (
            ics_invite(
                uid=invite_uid("webinar", webinar.id or 0, settings), summary=title,
                description=rendered.blocks.get("join") or webinar.join_url or "",
                starts_at=webinar.starts_at, duration=timedelta(minutes=webinar.duration_minutes),
                timezone_name=webinar.timezone, organizer_email=settings.smtp_from_email,
                attendee_email=recipient, url=webinar.join_url, cancelled=cancelled,
                # A cancellation must outrank every invite sent before it.
                sequence=webinar.sequence + 1 if cancelled else webinar.sequence,
            ),
        )

    values = {
        "first_name": registration.first_name, "title": title, "when": local_start.strftime("%Y-%m-%d %H:%M"),
        "timezone": webinar.timezone, "duration": webinar.duration_minutes, "presenter": webinar.presenter,
        "join_url": webinar.join_url,
    }
    return Draft(to=recipient, language=language, values=values, attachments=invite)


async def _load(
    session: AsyncSession, registration_id: int
) -> tuple[Webinar, WebinarRegistration] | None:
    # One statement, not two gets: each costs trips to the database's thread, and this runs for
    # every registration's confirmation (it buys the registration benchmark part of its ratio).
    found = await session.exec(
        select(Webinar, WebinarRegistration)
        .join(WebinarRegistration, col(WebinarRegistration.webinar_id) == col(Webinar.id))
        .where(WebinarRegistration.id == registration_id)
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def _load_confirmation(
    session: AsyncSession, settings: Settings, params: RegistrationMail, served: ServedLanguage
) -> Draft | None:
    """With the webinar as it is when sent; nothing once the registration is gone or the webinar cancelled
    (its registrants get the cancellation instead)."""
    found = await _load(session, params.registration_id)
    if found is None or found[0].status == "cancelled":
        return None
    webinar, registration = found
    return _draft(webinar, registration, settings, served(registration.language), cancelled=False)


async def _load_cancellation(
    session: AsyncSession, settings: Settings, params: RegistrationMail, served: ServedLanguage
) -> Draft | None:
    """The cancellation notice, with an iCalendar CANCEL for the earlier invite."""
    found = await _load(session, params.registration_id)
    if found is None or found[0].status != "cancelled":
        return None
    webinar, registration = found
    return _draft(webinar, registration, settings, served(registration.language), cancelled=True)


CONFIRMATION = MailTemplate(
    name="webinars.confirmation", folder=TEXTS, params=RegistrationMail, load=_load_confirmation
)
CANCELLATION = MailTemplate(
    name="webinars.cancellation", folder=TEXTS, params=RegistrationMail, load=_load_cancellation
)
MAIL_TEMPLATES = (CONFIRMATION, CANCELLATION)


async def queue_cancellations(session: AsyncSession, *, settings: Settings, webinar: Webinar) -> int:
    """Queues one cancellation mail per registrant, in the caller's transaction; returns how many."""
    registrations = await session.exec(
        select(WebinarRegistration.id, WebinarRegistration.email)
        .where(WebinarRegistration.webinar_id == webinar.id)
        .order_by(col(WebinarRegistration.id))
    )
    queued = 0
    for registration_id, email in registrations.all():
        await CANCELLATION.queue(session, recipient=email, params=RegistrationMail(registration_id=registration_id))
        queued += 1
    return queued
