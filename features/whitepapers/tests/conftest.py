import pytest

from features.whitepapers.tests.factories import BASE, _counter, pdf_bytes, whitepaper_body


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
