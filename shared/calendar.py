"""iCalendar invitations for anything that happens at a time (webinars, consultations)."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress

from shared.config import Settings
from shared.db import as_utc, utcnow
from shared.mail import Attachment


def invite_uid(kind: str, id_: int, settings: Settings) -> str:
    """The one UID rule for invites: `<kind>-<id>@<the domain of SMTP_FROM_EMAIL>`, the organizer's domain.

    A cancellation or an update must carry its invite's UID, so it is derived, never stored.
    """
    return f"{kind}-{id_}@{settings.smtp_from_email.rsplit('@', 1)[-1]}"


def ics_invite(
    *, uid: str, summary: str, description: str, starts_at: datetime, duration: timedelta, timezone_name: str,
    organizer_email: str, attendee_email: str, url: str | None = None, cancelled: bool = False, sequence: int = 0,
) -> Attachment:
    """A one-event calendar, times in UTC, the event's own time zone named for clients that show it."""
    calendar = Calendar()
    calendar.add("prodid", "-//Magnetiq//magnetiq//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", utcnow())
    event.add("dtstart", as_utc(starts_at))
    event.add("dtend", as_utc(starts_at) + duration)
    event.add("summary", summary)
    event.add("description", description)
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("x-magnetiq-timezone", timezone_name)
    if url:
        event.add("url", url)
    event.add("organizer", vCalAddress(f"mailto:{organizer_email}"))
    event.add("attendee", vCalAddress(f"mailto:{attendee_email}"))
    calendar.add_component(event)
    return Attachment(
        filename="invite.ics", content_type="text/calendar", data=calendar.to_ical(),
        params=(("method", "CANCEL" if cancelled else "REQUEST"),),  # iTIP: clients act on it
    )
