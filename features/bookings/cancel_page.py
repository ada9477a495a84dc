"""The small HTML pages behind a visitor's cancellation link (shared/link_pages.py); every value is escaped."""

from __future__ import annotations

from html import escape

from features.bookings.mails import local_time
from features.bookings.models import ACTIVE_STATUSES, Booking
from shared.link_pages import link_page, post_button

_TEXTS = {
    "en": {
        "title": "Cancel your consultation",
        "ask": "Do you want to cancel this consultation?",
        "button": "Yes, cancel it",
        "topic": "Topic",
        "when": "When",
        "done_title": "Consultation cancelled",
        "done": "Your consultation is cancelled. We have sent you a confirmation by email.",
        "already": "This consultation is already cancelled.",
        "closed": "This consultation can no longer be cancelled here.",
    },
    "de": {
        "title": "Beratungstermin absagen",
        "ask": "Möchten Sie diesen Beratungstermin absagen?",
        "button": "Ja, absagen",
        "topic": "Thema",
        "when": "Termin",
        "done_title": "Beratungstermin abgesagt",
        "done": "Ihr Beratungstermin ist abgesagt. Eine Bestätigung haben wir Ihnen per E-Mail geschickt.",
        "already": "Dieser Beratungstermin ist bereits abgesagt.",
        "closed": "Dieser Beratungstermin kann hier nicht mehr abgesagt werden.",
    },
}


def _page(booking: Booking, title_key: str, paragraph: str, form: str = "") -> str:
    text = _TEXTS.get(booking.language, _TEXTS["en"])
    language = booking.language if booking.language in _TEXTS else "en"
    body = (
        f"<p>{escape(paragraph)}</p>"
        f"<dl><dt>{escape(text['topic'])}</dt><dd>{escape(booking.topic)}</dd>"
        f"<dt>{escape(text['when'])}</dt><dd>{escape(local_time(booking, language))}</dd></dl>{form}"
    )
    return link_page(language=language, title=text[title_key], body=body)


def preview_page(booking: Booking) -> str:
    """What would be cancelled, and a button that POSTs; showing it changes nothing."""
    text = _TEXTS.get(booking.language, _TEXTS["en"])
    if booking.status == "cancelled":
        return _page(booking, "title", text["already"])
    if booking.status not in ACTIVE_STATUSES:
        return _page(booking, "title", text["closed"])
    return _page(booking, "title", text["ask"], post_button(text["button"]))


def cancelled_page(booking: Booking, *, already: bool) -> str:
    text = _TEXTS.get(booking.language, _TEXTS["en"])
    return _page(booking, "done_title", text["already"] if already else text["done"])
