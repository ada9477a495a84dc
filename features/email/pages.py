"""The small HTML pages behind the confirm and unsubscribe links, in the contact's language (shared/link_pages.py)."""

from __future__ import annotations

from html import escape

from features.email.models import Contact
from shared.link_pages import link_page, post_button

_TEXTS = {
    "en": {
        "confirm_title": "Confirm your subscription",
        "confirm_ask": "Do you want to receive our emails at {email}?",
        "confirm_button": "Yes, subscribe me",
        "confirmed_title": "Subscription confirmed",
        "confirmed": "Thank you: {email} is subscribed. Every email we send has a link to unsubscribe.",
        "confirm_closed": "This confirmation link can no longer be used.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_ask": "Do you want to stop receiving our emails at {email}?",
        "unsubscribe_button": "Yes, unsubscribe me",
        "unsubscribed_title": "Unsubscribed",
        "unsubscribed": "{email} is unsubscribed. You will receive no more emails from us.",
    },
    "de": {
        "confirm_title": "Abonnement bestätigen",
        "confirm_ask": "Möchten Sie unsere E-Mails an {email} erhalten?",
        "confirm_button": "Ja, abonnieren",
        "confirmed_title": "Abonnement bestätigt",
        "confirmed": "Vielen Dank: {email} ist angemeldet. Jede E-Mail von uns enthält einen Link zum Abmelden.",
        "confirm_closed": "Dieser Bestätigungslink kann nicht mehr verwendet werden.",
        "unsubscribe_title": "Abmelden",
        "unsubscribe_ask": "Möchten Sie keine E-Mails mehr von uns an {email} erhalten?",
        "unsubscribe_button": "Ja, abmelden",
        "unsubscribed_title": "Abgemeldet",
        "unsubscribed": "{email} ist abgemeldet. Sie erhalten keine E-Mails mehr von uns.",
    },
}


def _page(contact: Contact, title_key: str, paragraph_key: str, button_key: str | None = None) -> str:
    language = contact.language if contact.language in _TEXTS else "en"
    text = _TEXTS[language]
    body = f"<p>{escape(text[paragraph_key].format(email=contact.email))}</p>"
    if button_key:
        body += post_button(text[button_key])
    return link_page(language=language, title=text[title_key], body=body)


def confirm_page(contact: Contact) -> str:
    """The question and a button that POSTs; showing it changes nothing."""
    if contact.status == "subscribed":
        return _page(contact, "confirmed_title", "confirmed")
    if contact.status != "pending":
        return _page(contact, "confirm_title", "confirm_closed")
    return _page(contact, "confirm_title", "confirm_ask", "confirm_button")


def confirmed_page(contact: Contact) -> str:
    if contact.status == "subscribed":
        return _page(contact, "confirmed_title", "confirmed")
    return _page(contact, "confirm_title", "confirm_closed")


def unsubscribe_page(contact: Contact) -> str:
    """The question and a button that POSTs; showing it changes nothing."""
    if contact.status == "unsubscribed":
        return _page(contact, "unsubscribed_title", "unsubscribed")
    return _page(contact, "unsubscribe_title", "unsubscribe_ask", "unsubscribe_button")


def unsubscribed_page(contact: Contact) -> str:
    return _page(contact, "unsubscribed_title", "unsubscribed")
