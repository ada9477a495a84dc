"""Helpers of the email slice's tests: campaigns against a programmable SMTP server; contacts over
HTTP, links out of real mails, CSV uploads."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from features.email.models import Campaign, CampaignRecipient, Contact, ContactSource, ContactTag, EmailTemplate
from features.email.tests.campaign_helpers import BASE, TEMPLATE, ProgrammableSmtp
from tests.factories import free_port


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback that the app's mail goes to, programmable per test."""
    handler = ProgrammableSmtp()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.state.settings.smtp_port = port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def create_template(client, editor_headers):
    async def create(**overrides):
        response = await client.post(f"{BASE}/templates", json={**TEMPLATE, **overrides}, headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def create_campaign(client, editor_headers, create_template):
    async def create(**overrides):
        template_id = overrides.pop("template_id", None) or (await create_template())["id"]
        body = {"name": "May newsletter", "template_id": template_id, **overrides}
        response = await client.post(f"{BASE}/campaigns", json=body, headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


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
    return {
        "first_name": "Grace", "last_name": "Hopper", "email": email, "company": "Navy",
        "consent_marketing": True, **overrides,
    }


@pytest.fixture
def create_contact(client, editor_headers):
    async def create(email="ada@example.com", **fields):
        response = await client.post(CONTACTS, json={"email": email, **fields}, headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def webinar(client, editor_headers):
    """A published webinar next week; returns its registration URL."""

    async def create(slug="audience-101"):
        body = {
            "slug": slug, "title": {"en": "Audience 101", "de": "Publikum 101"},
            "description": {"en": "<p>Lists.</p>"}, "duration_minutes": 45, "timezone": "Europe/Berlin",
            "starts_at": (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0).isoformat(),
            "presenter": "Ada", "capacity": None, "join_url": "https://meet.example.com/a", "status": "published",
        }
        response = await client.post(WEBINARS, json=body, headers=editor_headers)
        assert response.status_code == 201, response.text
        return f"{WEBINARS}/{response.json()['id']}/register"

    return create


@pytest.fixture
def upload_csv(client, editor_headers):
    async def upload(content: str | bytes, status: str | None = "subscribed", headers=None):
        data = content.encode() if isinstance(content, str) else content
        form = {} if status is None else {"status": status}
        return await client.post(
            f"{CONTACTS}/import", files={"file": ("contacts.csv", data, "text/csv")}, data=form,
            headers=editor_headers if headers is None else headers,
        )

    return upload
