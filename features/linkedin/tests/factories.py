"""What the linkedin slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.factories import png_bytes as shared_png_bytes

BASE = "/api/v1/communication/linkedin"


REDIRECT_URI = "https://admin.example.com/oauth/linkedin"


async def consent(authorization_url: str) -> dict[str, str]:
    """What the member's browser does: open the consent page, come back with its redirect's query."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    return {key: values[0] for key, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def png_bytes(shade: int = 10) -> bytes:
    return shared_png_bytes(color=(200, shade, 10))


async def publish(client, editor_headers, post_id: int):
    return await client.post(f"{BASE}/content/{post_id}/publish", headers=editor_headers)
