"""The linkedin slice's fixtures: a fake LinkedIn on loopback, the app configured against it, a connected account."""

from __future__ import annotations

import pytest

from features.linkedin.tests.factories import BASE, REDIRECT_URI, consent, png_bytes
from features.linkedin.tests.fake_linkedin import CLIENT_ID, CLIENT_SECRET, FakeLinkedIn
from tests.factories import LoopbackServer


@pytest.fixture
async def fake_linkedin():
    fake = FakeLinkedIn()
    async with LoopbackServer(fake) as server:
        fake.base_url = server.url
        yield fake
        fake.release.set()


@pytest.fixture
def linkedin(app, fake_linkedin) -> FakeLinkedIn:
    """The app's settings point at the fake, with client credentials and a short provider timeout."""
    settings = app.state.settings
    settings.linkedin_client_id = CLIENT_ID
    settings.linkedin_client_secret = type(settings.linkedin_client_secret)(CLIENT_SECRET)
    settings.linkedin_redirect_uri = REDIRECT_URI
    settings.linkedin_auth_base_url = f"{fake_linkedin.base_url}/oauth/v2"
    settings.linkedin_api_base_url = fake_linkedin.base_url
    settings.provider_timeout_seconds = 1
    return fake_linkedin


@pytest.fixture
def connect_account(client, admin_headers, linkedin):
    async def connect(member: str = "member-ada") -> dict:
        linkedin.member = member
        started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
        assert started.status_code == 200, started.text
        redirect = await consent(started.json()["authorization_url"])
        response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)
        assert response.status_code == 201, response.text  # CONTRACT.md: 201, for a reconnection too
        return response.json()

    return connect


@pytest.fixture
def create_post(client, editor_headers):
    async def create(account_id: int, text: str = "Hello LinkedIn", **fields) -> dict:
        response = await client.post(
            f"{BASE}/content", json={"account_id": account_id, "text": text, **fields}, headers=editor_headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def upload_image(client, editor_headers):
    """A media item (an image) of the media slice; each `shade` is other bytes, so another item."""

    async def upload(shade: int = 10) -> int:
        response = await client.post(
            "/api/v1/content/media", files={"file": (f"image-{shade}.png", png_bytes(shade), "image/png")},
            headers=editor_headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    return upload
