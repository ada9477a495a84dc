"""What the email slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""

import re

from sqlmodel import select

from features.email.models import Campaign, CampaignRecipient, Contact, ContactSource, ContactTag, EmailTemplate
from tests.factories import visitor as shared_visitor

CONTACTS = "/api/v1/communication/email/contacts"


PUBLIC = "/api/v1/public/email"


WEBINARS = "/api/v1/business/webinars"


def link_in(message, kind: str) -> str:
    """The confirm or unsubscribe link in a mail's text, as a path."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"https?://\S+/api/v1/public/email/{kind}/\S+", text).group(0)
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def opt_in_mails(mailbox, address: str) -> list:
    return [m for m in mailbox.to(address) if "/api/v1/public/email/confirm/" in m.get_body(("plain",)).get_content()]


async def stored_contact(app, email: str) -> Contact | None:
    async with app.state.db.session(write=False) as session:
        return (await session.exec(select(Contact).where(Contact.email == email))).first()


async def sources_of(app, contact_id: int) -> set[str]:
    async with app.state.db.session(write=False) as session:
        rows = await session.exec(select(ContactSource.source).where(ContactSource.contact_id == contact_id))
        return set(rows.all())


async def tags_of(app, contact_id: int) -> set[str]:
    async with app.state.db.session(write=False) as session:
        return set((await session.exec(select(ContactTag.tag).where(ContactTag.contact_id == contact_id))).all())


async def campaign_recipient(app, contact_id: int, *, status: str = "sent") -> int:
    """A campaign (and its template) with this contact as a recipient; the recipient row's id."""
    async with app.state.db.session() as session:
        template = EmailTemplate(name="t", subject={"en": "s"}, html_body={"en": "b"})
        session.add(template)
        await session.flush()
        campaign = Campaign(name="c", template_id=template.id, status="sending")
        session.add(campaign)
        await session.flush()
        recipient = CampaignRecipient(campaign_id=campaign.id, contact_id=contact_id, status=status)
        session.add(recipient)
        await session.flush()
        return recipient.id


def visitor(email="grace@example.com", **overrides) -> dict:
    return shared_visitor(email, **{"consent_marketing": True, **overrides})  # this slice is about consent
