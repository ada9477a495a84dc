import pytest


@pytest.fixture
def upload(client, editor_headers):
    async def send(filename: str, data: bytes, *, alt_text: str | None = None, headers=None):
        fields = {"alt_text": alt_text} if alt_text is not None else None
        return await client.post(
            "/api/v1/content/media", files={"file": (filename, data, "application/octet-stream")}, data=fields,
            headers=headers or editor_headers,
        )

    return send
