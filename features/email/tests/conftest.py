import pytest
from aiosmtpd.controller import Controller

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
