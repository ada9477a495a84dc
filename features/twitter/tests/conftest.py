"""The twitter slice's fixtures: a fake X and our client pointed at it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from features.twitter.client import XClient
from features.twitter.tests.fake_x import FakeUser, FakeX
from shared.config import Settings
from shared.oauth import s256_challenge
from shared.publishing import Credentials, TokenSet
from tests.factories import free_port

FAKE_X = "http://fake-x.test"


@pytest.fixture
def fake_x() -> FakeX:
    fake = FakeX()
    fake.add_user("magnetiq", "Magnetiq GmbH")
    return fake


@pytest.fixture
def x_settings(settings: Settings, fake_x: FakeX) -> Settings:
    """The app's settings with X configured against the fake."""
    settings.x_client_id = fake_x.client_id
    settings.x_client_secret = SecretStr(fake_x.client_secret)
    settings.x_redirect_uri = next(iter(fake_x.redirect_uris))
    settings.x_authorize_url = f"{FAKE_X}/i/oauth2/authorize"
    settings.x_api_base_url = FAKE_X
    settings.provider_timeout_seconds = 0.5
    return settings


@pytest.fixture
async def x(x_settings: Settings, fake_x: FakeX) -> AsyncIterator[XClient]:
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app), clock=lambda: fake_x.now) as client:
        yield client


async def approve(fake: FakeX, authorization_url: str) -> dict[str, str]:
    """The admin's browser: opens X's authorize page, approves, and reads X's redirect back to us."""
    async with AsyncClient(transport=ASGITransport(app=fake.app)) as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    return {key: values[0] for key, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def connect(x: XClient, fake: FakeX, user: FakeUser | None = None) -> TokenSet:
    """The whole connect flow: authorize with a fresh PKCE pair, approve, exchange the code."""
    fake.signed_in = user or fake.signed_in
    verifier = secrets.token_urlsafe(48)
    redirect_uri = next(iter(fake.redirect_uris))
    url = x.authorization_url(state="state-1", redirect_uri=redirect_uri, code_challenge=s256_challenge(verifier))
    redirect = await approve(fake, url)
    assert redirect["state"] == "state-1"
    return await x.exchange_code(code=redirect["code"], redirect_uri=redirect_uri, code_verifier=verifier)


def credentials(fake: FakeX, user: FakeUser | None = None, scopes: set[str] | None = None) -> Credentials:
    """An account's credentials as if it had connected (for tests not about connecting)."""
    user = user or fake.signed_in
    assert user is not None
    return Credentials(user.id, fake.issue_token(user, scopes))


@pytest.fixture
async def fake_x_server(fake_x: FakeX) -> AsyncIterator[str]:
    """The fake on a real loopback socket (uvicorn in this event loop); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake_x.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    fake_x.released.set()
    server.should_exit = True
    await task
