"""What the bookings slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.db import utcnow

BERLIN = ZoneInfo("Europe/Berlin")


BOOKINGS = "/api/v1/business/bookings"


def next_monday(min_days_ahead: int = 2) -> date:
    """A Monday at least `min_days_ahead` days away (Berlin dates), so all of it is past the 24 h notice."""
    day = utcnow().astimezone(BERLIN).date() + timedelta(days=min_days_ahead)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def berlin(day: date, clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return datetime.combine(day, time(hours, minutes), BERLIN)


def booking_body(starts_at: datetime, email: str = "ada@example.com", **overrides):
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": email,
        "company": "Analytical Engines",
        "language": "en",
        # No consent by default: with it the email slice mails a double opt-in too (its own tests cover that).
        "consent_marketing": False,
        "topic": "Marketing automation",
        "message": "About our funnel",
        "phone": "+49 30 1234567",
        "starts_at": starts_at.isoformat(),
        "duration_minutes": 30,
        **overrides,
    }


def link_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https?://\S+/api/v1/public/bookings/cancel/\S+", text).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]
