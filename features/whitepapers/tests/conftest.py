import io
import itertools

import pytest
from PIL import Image

BASE = "/api/v1/business/whitepapers"
PUBLIC_BASE_URL = "http://localhost:3036"
_counter = itertools.count(1)


def pdf_bytes(marker: str = "") -> bytes:
    """A minimal PDF; the marker makes its bytes (and so its media item) distinct."""
    return f"%PDF-1.4\n% {marker}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".encode()


def png_bytes(width=3, height=2, color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def local(url: str) -> str:
    """A URL the app handed out, as a path the test client can request."""
    assert url.startswith(PUBLIC_BASE_URL), url
    return url.removeprefix(PUBLIC_BASE_URL)


def whitepaper_body(document_media_id: int, slug: str = "grid-storage-guide", **overrides) -> dict:
    return {
        "slug": slug,
        "title": {"en": "The grid storage guide", "de": "Der Netzspeicher-Leitfaden"},
        "summary": {"en": "What to plan before you buy.", "de": "Was vor dem Kauf zu planen ist."},
        "language": "en",
        "document_media_id": document_media_id,
        "status": "published",
        **overrides,
    }


def visitor(**overrides) -> dict:
    return {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "company": "Engines Ltd",
        # No consent by default: with it the email slice mails a double opt-in too (its own tests cover that).
        "language": "en", "consent_marketing": False, **overrides,
    }


@pytest.fixture
def upload_media(client, editor_headers):
    """Uploads through the media slice (public by default there); returns its description."""

    async def upload(filename: str, data: bytes) -> dict:
        response = await client.post(
            "/api/v1/content/media", files={"file": (filename, data, "application/octet-stream")},
            headers=editor_headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    return upload


@pytest.fixture
def new_document(upload_media):
    async def make() -> dict:
        return await upload_media(f"guide-{next(_counter)}.pdf", pdf_bytes(f"doc-{next(_counter)}"))

    return make


@pytest.fixture
def create_whitepaper(client, editor_headers, new_document):
    """Creates a whitepaper (published unless told otherwise) with a fresh document."""

    async def create(slug: str | None = None, *, document_media_id: int | None = None, **overrides) -> dict:
        if document_media_id is None:
            document_media_id = (await new_document())["id"]
        body = whitepaper_body(document_media_id, slug or f"whitepaper-{next(_counter)}", **overrides)
        response = await client.post(BASE, json=body, headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


