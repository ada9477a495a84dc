"""Helpers of the email slice's tests: campaigns against a programmable SMTP server; contacts over
HTTP, links out of real mails, CSV uploads."""

from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from features.email.tests.campaign_helpers import BASE, TEMPLATE, ProgrammableSmtp
from features.email.tests.factories import CONTACTS, WEBINARS
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
