"""The double opt-in mail, rendered when sent from the texts in mail_texts/ (en, de; the kernel's language rule).

Queued as a template and a contact id: it carries a confirm link made at delivery, in the
contact's language then, and nothing goes out once the contact is no longer pending (confirmed
meanwhile, unsubscribed, erased).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.links import confirm_url
from features.email.models import Contact
from shared.config import Settings
from shared.mail_templates import Draft, MailTemplate, ServedLanguage

TEXTS = Path(__file__).parent / "mail_texts"


class OptInMail(BaseModel):
    contact_id: int


async def _load_opt_in(
    session: AsyncSession, settings: Settings, params: OptInMail, served: ServedLanguage
) -> Draft | None:
    contact = await session.get(Contact, params.contact_id)
    if contact is None or contact.status != "pending":
        return None
    values = {"first_name": contact.first_name, "confirm_url": confirm_url(settings, contact_id=params.contact_id)}
    return Draft(to=contact.email, language=served(contact.language), values=values)


OPT_IN = MailTemplate(name="email.opt_in", folder=TEXTS, params=OptInMail, load=_load_opt_in)
MAIL_TEMPLATES = (OPT_IN,)


async def queue_opt_in(session: AsyncSession, *, contact_id: int, email: str) -> None:
    """Queues the double opt-in mail in the caller's transaction (one small row)."""
    await OPT_IN.queue(session, recipient=email, params=OptInMail(contact_id=contact_id))


async def queue_opt_ins(session: AsyncSession, *, contacts: list[tuple[int, str]]) -> None:
    """Queues the opt-in mail for many (contact id, address) at once: one statement."""
    messages = [(email, OptInMail(contact_id=contact_id)) for contact_id, email in contacts]
    await OPT_IN.queue_many(session, messages=messages)
