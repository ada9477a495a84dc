"""Mails to registrants, in their language (en/de; others fall back to the default language)."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from email.message import Message
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.models import Webinar, WebinarRegistration
from shared.calendar import ics_invite
from shared.config import Settings
from shared.i18n import translate
from shared.mail import ascii_address, build_message, queue_mail

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "confirmation_subject": "You are registered: {title}",
        "confirmation_text": (
            "Hello {first_name},\n\n"
            'you are registered for "{title}".\n\n'
            "When: {when} ({timezone}), {duration} minutes\n"
            "{presenter_line}"
            "Join: {join_url}\n\n"
            "The attached invitation adds the webinar to your calendar.\n"
        ),
        "presenter": "Presenter: {presenter}\n",
        "no_link": "we will send the link before the start",
        "cancellation_subject": "Cancelled: {title}",
        "cancellation_text": (
            "Hello {first_name},\n\n"
            'we are sorry: "{title}" on {when} ({timezone}) has been cancelled.\n\n'
            "The attached update removes it from your calendar.\n"
        ),
    },
    "de": {
        "confirmation_subject": "Sie sind angemeldet: {title}",
        "confirmation_text": (
            "Hallo {first_name},\n\n"
            "Sie sind für „{title}“ angemeldet.\n\n"
            "Wann: {when} ({timezone}), {duration} Minuten\n"
            "{presenter_line}"
            "Teilnehmen: {join_url}\n\n"
            "Mit der angehängten Einladung tragen Sie das Webinar in Ihren Kalender ein.\n"
        ),
        "presenter": "Vortragende(r): {presenter}\n",
        "no_link": "den Link senden wir vor Beginn",
        "cancellation_subject": "Abgesagt: {title}",
        "cancellation_text": (
            "Hallo {first_name},\n\n"
            "es tut uns leid: „{title}“ am {when} ({timezone}) wurde abgesagt.\n\n"
            "Die angehängte Aktualisierung entfernt den Termin aus Ihrem Kalender.\n"
        ),
    },
}


def _one_line(text: str) -> str:
    """Text fit for a header: control characters (line breaks included) become single spaces."""
    return " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in text).split())


def mail_language(language: str | None, settings: Settings) -> str:
    """The registrant's language when we have templates in it, else the default (or English)."""
    for candidate in (language, settings.default_language):
        if candidate in TEMPLATES:
            return candidate
    return "en"


def _invite_uid(webinar: Webinar, settings: Settings) -> str:
    return f"webinar-{webinar.id}@{urlsplit(settings.public_base_url).hostname or 'magnetiq'}"


def _fields(webinar: Webinar, registration: WebinarRegistration, language: str, settings: Settings) -> dict[str, str]:
    template = TEMPLATES[language]
    local_start = webinar.starts_at.astimezone(ZoneInfo(webinar.timezone))
    return {
        "first_name": registration.first_name,
        "title": translate(webinar.title, language, settings.default_language) or webinar.slug,
        "when": local_start.strftime("%Y-%m-%d %H:%M"),
        "timezone": webinar.timezone,
        "duration": str(webinar.duration_minutes),
        "presenter_line": template["presenter"].format(presenter=webinar.presenter) if webinar.presenter else "",
        "join_url": webinar.join_url or template["no_link"],
    }


def _message(
    webinar: Webinar, registration: WebinarRegistration, settings: Settings, *, kind: str, cancelled: bool
) -> Message:
    language = mail_language(registration.language, settings)
    template, fields = TEMPLATES[language], _fields(webinar, registration, language, settings)
    recipient = ascii_address(registration.email)
    invite = ics_invite(
        uid=_invite_uid(webinar, settings), summary=fields["title"], description=fields["join_url"],
        starts_at=webinar.starts_at, duration=timedelta(minutes=webinar.duration_minutes),
        timezone_name=webinar.timezone, organizer_email=settings.smtp_from_email,
        attendee_email=recipient, url=webinar.join_url, cancelled=cancelled,
        # A cancellation must outrank every invite sent before it.
        sequence=webinar.sequence + 1 if cancelled else webinar.sequence,
    )
    return build_message(
        settings, to=recipient, subject=_one_line(template[f"{kind}_subject"].format(**fields)),
        text=template[f"{kind}_text"].format(**fields), attachments=(invite,), language=language,
    )


def confirmation_message(webinar: Webinar, registration: WebinarRegistration, settings: Settings) -> Message:
    """The confirmation: time in the webinar's zone, the join link, and a calendar invite."""
    return _message(webinar, registration, settings, kind="confirmation", cancelled=False)


async def render_confirmation(session: AsyncSession, settings: Settings, params: dict[str, Any]) -> Message | None:
    """The queued confirmation, rendered when sent: with the webinar as it is then.

    Nothing to send when the registration is gone, or the webinar was cancelled meanwhile
    (its registrants get the cancellation instead).
    """
    registration = await session.get(WebinarRegistration, params["registration_id"])
    if registration is None:
        return None
    webinar = await session.get(Webinar, registration.webinar_id)
    if webinar is None or webinar.status == "cancelled":
        return None
    return confirmation_message(webinar, registration, settings)


def cancellation_message(webinar: Webinar, registration: WebinarRegistration, settings: Settings) -> Message:
    """The cancellation notice, with an iCalendar CANCEL for the earlier invite."""
    return _message(webinar, registration, settings, kind="cancellation", cancelled=True)


async def queue_cancellations(session: AsyncSession, settings: Settings, webinar: Webinar) -> int:
    """Queues one cancellation mail per registrant, in the caller's transaction; returns how many."""
    registrations = await session.exec(
        select(WebinarRegistration)
        .where(WebinarRegistration.webinar_id == webinar.id)
        .order_by(col(WebinarRegistration.id))
    )
    queued = 0
    for registration in registrations.all():
        await queue_mail(session, cancellation_message(webinar, registration, settings))
        queued += 1
    return queued
