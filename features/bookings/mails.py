"""What the visitor is mailed, in their language: request received, confirmed (.ics), cancelled (.ics).

Texts in mail_texts/, rendered when sent; the language by the kernel's one rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from features.bookings.models import Booking
from shared.calendar import ics_invite, invite_uid
from shared.config import Settings
from shared.db import utcnow
from shared.mail import Attachment, ascii_address
from shared.mail_templates import Draft, MailTemplate, Rendered, ServedLanguage
from shared.security import create_link_token, read_link_token

PUBLIC_PREFIX = "/api/v1/public/bookings"
CANCEL_PURPOSE = "booking-cancel"

TEXTS = Path(__file__).parent / "mail_texts"
# How each language writes a time; a language without one gets the default language's (the kernel's rule).
_TIME_FORMATS = {"en": "%Y-%m-%d %H:%M", "de": "%d.%m.%Y %H:%M Uhr"}


def local_time(booking: Booking, language: str) -> str:
    """The start in the visitor's own zone, written the way their language writes it."""
    local = booking.starts_at.astimezone(ZoneInfo(booking.timezone))
    time_format = _TIME_FORMATS.get(language) or next(iter(_TIME_FORMATS.values()))
    return f"{local.strftime(time_format)} ({booking.timezone})"


def cancel_token(settings: Settings, booking: Booking, *, now: datetime | None = None) -> str | None:
    """A personal cancellation token valid until the booking starts; None once it has."""
    ttl = booking.starts_at - (now or utcnow())
    if ttl <= timedelta(0):
        return None
    return create_link_token(
        purpose=CANCEL_PURPOSE, subject=str(booking.id), ttl=ttl, secret=settings.secret_key.get_secret_value()
    )


def booking_id_from_token(settings: Settings, token: str) -> int | None:
    subject = read_link_token(token, purpose=CANCEL_PURPOSE, secret=settings.secret_key.get_secret_value())
    if not subject or not subject.isdecimal() or len(subject) > 18:  # beyond SQLite's integers: not ours
        return None
    return int(subject)


def cancel_link(settings: Settings, booking: Booking) -> str | None:
    token = cancel_token(settings, booking)
    return None if token is None else f"{settings.public_base_url.rstrip('/')}{PUBLIC_PREFIX}/cancel/{token}"


class BookingMail(BaseModel):
    booking_id: int


# kind: (what must still hold when it is sent, with a cancel link, with an invite)
_KINDS: dict[str, tuple[frozenset[str], bool, bool]] = {
    "received": (frozenset({"pending", "confirmed"}), True, False),
    "confirmed": (frozenset({"confirmed"}), True, True),
    "cancelled": (frozenset({"cancelled"}), False, True),
}


# --- rendered when sent: the mail says what holds then, and the outbox holds no cancel link ---

async def _load(
    kind: str, session: AsyncSession, settings: Settings, params: BookingMail, served: ServedLanguage
) -> Draft | None:
    still_true_for, with_link, with_invite = _KINDS[kind]
    booking = await session.get(Booking, params.booking_id)
    if booking is None or booking.status not in still_true_for:
        return None  # overtaken (a confirmation for a booking cancelled meanwhile): its own mail went out
    language = served(booking.language)
    link = cancel_link(settings, booking) if with_link else None
    cancelled = kind == "cancelled"

    def invite(rendered: Rendered) -> tuple[Attachment, ...]:
        if not with_invite:
            return ()
        return (
            ics_invite(
                uid=invite_uid("booking", booking.id or 0, settings), summary=booking.topic,
                description=rendered.blocks["body"], starts_at=booking.starts_at,
                duration=timedelta(minutes=booking.duration_minutes), timezone_name=booking.timezone,
                organizer_email=settings.smtp_from_email, attendee_email=ascii_address(booking.email), url=link,
                cancelled=cancelled, sequence=1 if cancelled else 0,
            ),
        )

    values = {
        "name": booking.first_name, "when": local_time(booking, language), "topic": booking.topic,
        "cancel_link": link,
    }
    return Draft(to=booking.email, language=language, values=values, attachments=invite)


TEMPLATES = {
    kind: MailTemplate(name=f"bookings.{kind}", folder=TEXTS, params=BookingMail, load=partial(_load, kind))
    for kind in _KINDS
}
MAIL_TEMPLATES = tuple(TEMPLATES.values())


async def queue(session: AsyncSession, *, booking: Booking, kind: str) -> None:
    """Queues the `kind` mail (received, confirmed, cancelled) for the booking's visitor."""
    assert booking.id is not None
    await TEMPLATES[kind].queue(session, recipient=booking.email, params=BookingMail(booking_id=booking.id))
