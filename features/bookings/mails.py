"""What the visitor is mailed, in their language: request received, confirmed (.ics), cancelled (.ics)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import Message
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from features.bookings.models import Booking
from shared.calendar import ics_invite
from shared.config import Settings
from shared.db import utcnow
from shared.mail import Renderer, ascii_address, build_message, queue_template
from shared.security import create_link_token, read_link_token

PUBLIC_PREFIX = "/api/v1/public/bookings"
CANCEL_PURPOSE = "booking-cancel"

_TEXTS = {
    "en": {
        "received_subject": "We received your consultation request",
        "received_body": "we received your request for a consultation on {when}: {topic}.\n"
                         "We will confirm it shortly.",
        "confirmed_subject": "Your consultation is confirmed: {when}",
        "confirmed_body": "your consultation on {when} is confirmed: {topic}.\n"
                          "The invitation is attached for your calendar.",
        "cancelled_subject": "Your consultation has been cancelled",
        "cancelled_body": "your consultation on {when} ({topic}) has been cancelled.",
        "greeting": "Hello {name},",
        "cancel_line": "Cannot make it? Cancel here: {link}",
        "time": "%Y-%m-%d %H:%M",
    },
    "de": {
        "received_subject": "Wir haben Ihre Terminanfrage erhalten",
        "received_body": "wir haben Ihre Anfrage für einen Beratungstermin am {when} erhalten: {topic}.\n"
                         "Wir bestätigen ihn in Kürze.",
        "confirmed_subject": "Ihr Beratungstermin ist bestätigt: {when}",
        "confirmed_body": "Ihr Beratungstermin am {when} ist bestätigt: {topic}.\n"
                          "Die Einladung für Ihren Kalender finden Sie im Anhang.",
        "cancelled_subject": "Ihr Beratungstermin wurde abgesagt",
        "cancelled_body": "Ihr Beratungstermin am {when} ({topic}) wurde abgesagt.",
        "greeting": "Guten Tag {name},",
        "cancel_line": "Sie können nicht? Hier absagen: {link}",
        "time": "%d.%m.%Y %H:%M Uhr",
    },
}


def texts_for(language: str) -> dict[str, str]:
    return _TEXTS.get(language, _TEXTS["en"])


def local_time(booking: Booking, language: str) -> str:
    """The start in the visitor's own zone, written the way their language writes it."""
    local = booking.starts_at.astimezone(ZoneInfo(booking.timezone))
    return f"{local.strftime(texts_for(language)['time'])} ({booking.timezone})"


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
    if not subject or not subject.isdigit() or len(subject) > 18:  # beyond SQLite's integers: not ours
        return None
    return int(subject)


def cancel_link(settings: Settings, booking: Booking) -> str | None:
    token = cancel_token(settings, booking)
    return None if token is None else f"{settings.public_base_url.rstrip('/')}{PUBLIC_PREFIX}/cancel/{token}"


def _message(settings: Settings, booking: Booking, kind: str, *, with_link: bool, cancelled: bool = False,
             invite: bool = False) -> Message:
    text = texts_for(booking.language)
    fields = {"when": local_time(booking, booking.language), "topic": booking.topic}
    lines = [text["greeting"].format(name=booking.first_name), "", text[f"{kind}_body"].format(**fields)]
    link = cancel_link(settings, booking) if with_link else None
    if link:
        lines += ["", text["cancel_line"].format(link=link)]
    attachments = ()
    if invite:
        attachments = (
            ics_invite(
                uid=f"booking-{booking.id}@{settings.smtp_from_email.rsplit('@', 1)[-1]}",
                summary=booking.topic, description=text[f"{kind}_body"].format(**fields),
                starts_at=booking.starts_at, duration=timedelta(minutes=booking.duration_minutes),
                timezone_name=booking.timezone, organizer_email=settings.smtp_from_email,
                attendee_email=ascii_address(booking.email), url=link, cancelled=cancelled,
                sequence=1 if cancelled else 0,
            ),
        )
    return build_message(
        settings, to=booking.email, subject=text[f"{kind}_subject"].format(**fields), text="\n".join(lines),
        attachments=attachments, language=booking.language,
    )


def received_message(settings: Settings, booking: Booking) -> Message:
    return _message(settings, booking, "received", with_link=True)


def confirmed_message(settings: Settings, booking: Booking) -> Message:
    return _message(settings, booking, "confirmed", with_link=True, invite=True)


def cancelled_message(settings: Settings, booking: Booking) -> Message:
    return _message(settings, booking, "cancelled", with_link=False, cancelled=True, invite=True)


# --- rendered when sent: the mail says what holds then, and the outbox holds no cancel link ---

async def _render(
    build: Callable[[Settings, Booking], Message], still_true_for: frozenset[str],
    session: AsyncSession, settings: Settings, params: dict[str, Any],
) -> Message | None:
    booking = await session.get(Booking, params["booking_id"])
    if booking is None or booking.status not in still_true_for:
        return None  # overtaken (a confirmation for a booking cancelled meanwhile): its own mail went out
    return build(settings, booking)


_KINDS: dict[str, tuple[Callable[[Settings, Booking], Message], frozenset[str]]] = {
    "received": (received_message, frozenset({"pending", "confirmed"})),
    "confirmed": (confirmed_message, frozenset({"confirmed"})),
    "cancelled": (cancelled_message, frozenset({"cancelled"})),
}
MAIL_TEMPLATES: dict[str, Renderer] = {
    f"bookings.{kind}": partial(_render, build, statuses) for kind, (build, statuses) in _KINDS.items()
}


async def queue(session: AsyncSession, booking: Booking, kind: str) -> None:
    """Queues the `kind` mail (received, confirmed, cancelled) for the booking's visitor."""
    await queue_template(session, f"bookings.{kind}", recipient=booking.email, params={"booking_id": booking.id})
