"""The small HTML pages behind a visitor's cancellation link; every value is escaped."""

from __future__ import annotations

from html import escape

from features.bookings.mails import local_time
from features.bookings.models import ACTIVE_STATUSES, Booking

# The page holds a working cancel button: no framing, no scripts, no caching, no referrer (the URL is the key).
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}

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
    title = escape(text[title_key])
    return (
        f'<!doctype html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5}dt{font-weight:600}button{font-size:1rem;padding:.5rem 1rem}</style>"
        f"</head><body><h1>{title}</h1><p>{escape(paragraph)}</p>"
        f"<dl><dt>{escape(text['topic'])}</dt><dd>{escape(booking.topic)}</dd>"
        f"<dt>{escape(text['when'])}</dt><dd>{escape(local_time(booking, language))}</dd></dl>"
        f"{form}</body></html>\n"
    )


def preview_page(booking: Booking) -> str:
    """What would be cancelled, and a button that POSTs; showing it changes nothing."""
    text = _TEXTS.get(booking.language, _TEXTS["en"])
    if booking.status == "cancelled":
        return _page(booking, "title", text["already"])
    if booking.status not in ACTIVE_STATUSES:
        return _page(booking, "title", text["closed"])
    # No action: the form posts back to the very URL the visitor opened, wherever a proxy mounted it.
    form = f'<form method="post"><button type="submit">{escape(text["button"])}</button></form>'
    return _page(booking, "title", text["ask"], form)


def cancelled_page(booking: Booking, *, already: bool) -> str:
    text = _TEXTS.get(booking.language, _TEXTS["en"])
    return _page(booking, "done_title", text["already"] if already else text["done"])
