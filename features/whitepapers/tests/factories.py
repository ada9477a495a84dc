"""What the whitepapers slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""

import itertools

from tests.factories import visitor as shared_visitor

BASE = "/api/v1/business/whitepapers"


PUBLIC_BASE_URL = "http://localhost:3036"


_counter = itertools.count(1)


def pdf_bytes(marker: str = "") -> bytes:
    """A minimal PDF; the marker makes its bytes (and so its media item) distinct."""
    return f"%PDF-1.4\n% {marker}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".encode()




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
    return shared_visitor(**{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                             "company": "Engines Ltd", "language": "en", **overrides})
