from datetime import datetime
from typing import Literal

from pydantic import BaseModel

MediaKind = Literal["image", "document"]


class MediaPublic(BaseModel):
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
