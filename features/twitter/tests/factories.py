"""What the twitter slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

from httpx import ASGITransport, AsyncClient

from features.twitter.client import XClient
from features.twitter.tests.fake_x import FakeUser, FakeX
from shared.oauth import s256_challenge
from shared.publishing import Credentials, TokenSet
from tests.factories import png_bytes as shared_png_bytes

FAKE_X = "http://fake-x.test"


BASE = "/api/v1/communication/twitter"


REDIRECT_URI = "https://admin.example.com/oauth/x"


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
    redirect_uri = "http://localhost:3036/x/callback"
    url = x.authorization_url(state="state-1", redirect_uri=redirect_uri, code_challenge=s256_challenge(verifier))
    redirect = await approve(fake, url)
    assert redirect["state"] == "state-1"
    return await x.exchange_code(code=redirect["code"], redirect_uri=redirect_uri, code_verifier=verifier)


def credentials(fake: FakeX, user: FakeUser | None = None, scopes: set[str] | None = None) -> Credentials:
    """An account's credentials as if it had connected (for tests not about connecting)."""
    user = user or fake.signed_in
    assert user is not None
    return Credentials(user.id, fake.issue_token(user, scopes))


async def follow_consent(authorization_url: str) -> dict[str, str]:
    """The admin's browser over the network: X's authorize page approves and redirects back to us."""
    async with AsyncClient() as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    return {key: values[0] for key, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def png_bytes(color=(200, 10, 10)) -> bytes:
    return shared_png_bytes(width=4, height=3, color=color)
