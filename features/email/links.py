"""The signed links in campaign and opt-in mails: unsubscribe, confirm, open pixel, click redirect.

Confirm links are purpose-bound, expiring JWTs (shared/security.py); unsubscribe and tracking
links carry an HMAC of what they name, so an altered recipient or target URL answers 404 and no
one can make us redirect to a site of their choosing.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from shared.config import Settings
from shared.security import create_link_token, link_signature, read_link_token, signature_matches

PUBLIC_PREFIX = "/api/v1/public/email"
UNSUBSCRIBE = "email-unsubscribe"
CONFIRM = "email-confirm"
OPEN = "email-open"
CLICK = "email-click"
CONFIRM_TTL = timedelta(days=30)


def _secret(settings: Settings) -> str:
    return settings.secret_key.get_secret_value()


def _base(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + PUBLIC_PREFIX


def unsubscribe_url(settings: Settings, *, contact_id: int, recipient_id: int | None = None) -> str:
    """The personal unsubscribe link; `recipient_id` credits the campaign the click came from.

    Signed, never expiring (a mail read years later must still unsubscribe), and short: it is
    also the List-Unsubscribe header, which a long token would fold over several lines."""
    subject = f"{contact_id}.{recipient_id or 0}"
    signature = link_signature(subject, purpose=UNSUBSCRIBE, secret=_secret(settings))
    return f"{_base(settings)}/unsubscribe/{subject}.{signature}"


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[int, int | None] | None:
    """(contact id, recipient id or None) of a valid unsubscribe token; None for anything else."""
    contact, _, rest = token.partition(".")
    recipient, _, signature = rest.partition(".")
    if not (contact.isdecimal() and recipient.isdecimal() and len(contact) < 20 and len(recipient) < 20):
        return None
    if not signature_matches(f"{contact}.{recipient}", signature, purpose=UNSUBSCRIBE, secret=_secret(settings)):
        return None
    return int(contact), int(recipient) or None


def confirm_url(settings: Settings, *, contact_id: int) -> str:
    token = create_link_token(purpose=CONFIRM, subject=str(contact_id), ttl=CONFIRM_TTL, secret=_secret(settings))
    return f"{_base(settings)}/confirm/{token}"


def read_confirm_token(settings: Settings, token: str) -> int | None:
    subject = read_link_token(token, purpose=CONFIRM, secret=_secret(settings))
    return int(subject) if subject and subject.isdecimal() else None


def open_pixel_url(settings: Settings, *, recipient_id: int) -> str:
    signature = link_signature(str(recipient_id), purpose=OPEN, secret=_secret(settings))
    return f"{_base(settings)}/t/o/{recipient_id}/{signature}.gif"


def open_pixel_valid(settings: Settings, *, recipient_id: int, signature: str) -> bool:
    return signature_matches(str(recipient_id), signature, purpose=OPEN, secret=_secret(settings))


def click_url(settings: Settings, *, recipient_id: int, target: str) -> str:
    signature = link_signature(f"{recipient_id} {target}", purpose=CLICK, secret=_secret(settings))
    return f"{_base(settings)}/t/c/{recipient_id}/{signature}?u={quote(target, safe='')}"


def click_valid(settings: Settings, *, recipient_id: int, signature: str, target: str) -> bool:
    return signature_matches(f"{recipient_id} {target}", signature, purpose=CLICK, secret=_secret(settings))
