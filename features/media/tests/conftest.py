import io
import zipfile

import pytest
from PIL import Image


def png_bytes(width=3, height=2, color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 0, 255)).save(buffer, format="JPEG")
    return buffer.getvalue()


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def upload(client, editor_headers):
    async def send(filename: str, data: bytes, *, alt_text: str | None = None, headers=None):
        fields = {"alt_text": alt_text} if alt_text is not None else None
        return await client.post(
            "/api/v1/content/media", files={"file": (filename, data, "application/octet-stream")}, data=fields,
            headers=headers or editor_headers,
        )

    return send
