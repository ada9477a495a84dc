"""The twitter slice's fixtures: a fake X and our client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from httpx import ASGITransport
from pydantic import SecretStr

from features.twitter.client import XClient
from features.twitter.tests.factories import (
    BASE,
    FAKE_X,
    REDIRECT_URI,
    follow_consent,
    png_bytes,
)
from features.twitter.tests.fake_x import FakeUser, FakeX
from shared.config import Settings
from tests.factories import LoopbackServer


@pytest.fixture
def fake_x() -> FakeX:
    fake = FakeX(redirect_uris=("http://localhost:3036/x/callback", REDIRECT_URI))
    fake.add_user("magnetiq", "Magnetiq GmbH")
    return fake


@pytest.fixture
def x_settings(settings: Settings, fake_x: FakeX) -> Settings:
    """The app's settings with X configured against the fake."""
    settings.x_client_id = fake_x.client_id
    settings.x_client_secret = SecretStr(fake_x.client_secret)
    settings.x_redirect_uri = "http://localhost:3036/x/callback"
    settings.x_authorize_url = f"{FAKE_X}/i/oauth2/authorize"
    settings.x_api_base_url = FAKE_X
    settings.provider_timeout_seconds = 0.5
    return settings


@pytest.fixture
async def x(x_settings: Settings, fake_x: FakeX) -> AsyncIterator[XClient]:
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app), clock=lambda: fake_x.now) as client:
        yield client


@pytest.fixture
async def fake_x_server(fake_x: FakeX) -> AsyncIterator[str]:
    """The fake on a real loopback socket (uvicorn in this event loop); yields its base URL."""
    async with LoopbackServer(fake_x.app) as server:
        yield server.url
        fake_x.released.set()  # a hanging call ends, so the server can stop


@pytest.fixture
def twitter(app, fake_x: FakeX, fake_x_server: str) -> FakeX:
    """The app's settings point at the fake X on loopback (on the real clock), with client credentials."""
    settings = app.state.settings
    settings.x_client_id = fake_x.client_id
    settings.x_client_secret = SecretStr(fake_x.client_secret)
    settings.x_redirect_uri = REDIRECT_URI
    settings.x_authorize_url = f"{fake_x_server}/i/oauth2/authorize"
    settings.x_api_base_url = fake_x_server
    settings.provider_timeout_seconds = 1
    fake_x.now = datetime.now(UTC)
    return fake_x


@pytest.fixture
def connect_account(client, admin_headers, twitter):
    async def connect(user: FakeUser | None = None) -> dict:
        twitter.signed_in = user or twitter.signed_in
        started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
        assert started.status_code == 200, started.text
        redirect = await follow_consent(started.json()["authorization_url"])
        response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)
        assert response.status_code == 201, response.text  # CONTRACT.md: 201, for a reconnection too
        return response.json()

    return connect


@pytest.fixture
def create_post(client, editor_headers):
    async def create(account_id: int, *texts: str, images: dict[int, list[int]] | None = None, **fields) -> dict:
        segments = [{"text": text, "media_ids": (images or {}).get(i, [])} for i, text in enumerate(texts or ["Hello X"])]
        response = await client.post(
            f"{BASE}/content", json={"account_id": account_id, "segments": segments, **fields}, headers=editor_headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def upload_image(client, editor_headers):
    """A media item of the media slice (an image)."""

    async def upload(color=(200, 10, 10)) -> int:
        response = await client.post(
            "/api/v1/content/media", files={"file": ("photo.png", png_bytes(color), "image/png")}, headers=editor_headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()["id"]

    return upload
