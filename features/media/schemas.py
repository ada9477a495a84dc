from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

MediaKind = Literal["image", "document"]


class MediaStaffView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 5, "url": "http://localhost:3036/api/v1/public/media/5d41402abc4b2a76b9719d911017c592.png",
                    "filename": "Team Photo.png", "mime_type": "image/png", "kind": "image", "size": 48_213,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "width": 1200, "height": 800, "alt_text": {"en": "The team", "de": "Das Team"}, "is_public": True,
                    "created_at": "2030-01-18T13:45:00Z",
                }
            ]
        }
    )

    id: int
    url: str
    filename: str
    mime_type: str
    kind: MediaKind
    size: int
    sha256: str
    width: int | None
    height: int | None
    alt_text: dict[str, str] | None
    is_public: bool
    created_at: datetime


UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "alt_text": {
                        "type": "string",
                        "description": 'Multilingual alt text as a JSON object, e.g. {"en": "Team photo"}',
                    },
                },
            }
        }
    },
}
