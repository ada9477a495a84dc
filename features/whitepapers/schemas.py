"""Bodies of the whitepapers slice (CONTRACT.md §5)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http import MAX_ID
from shared.i18n import LanguageCode, localized
from shared.slugs import Slug

WhitepaperStatus = Literal["draft", "published"]
MediaId = Annotated[int, Field(ge=1, le=MAX_ID, description="Id of a media item (POST /api/v1/content/media)")]
Title = localized(
    max_length=300, single_line=True, description='Title per language code, e.g. {"en": "Guide", "de": "Leitfaden"}'
)
Summary = localized(max_length=5000, description="Plain-text summary per language code")

_EXAMPLE = {
    "slug": "grid-storage-guide",
    "title": {"en": "The grid storage guide", "de": "Der Leitfaden für Netzspeicher"},
    "summary": {"en": "What to plan before you buy.", "de": "Was vor dem Kauf zu planen ist."},
    "language": "en",
    "document_media_id": 1,
    "cover_media_id": None,
    "status": "published",
}


class WhitepaperCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    slug: Slug
    title: Title
    summary: Summary
    language: LanguageCode = Field(description="The document's language (a supported language)")
    document_media_id: MediaId
    cover_media_id: MediaId | None = Field(default=None, description="An image shown with the whitepaper")
    status: WhitepaperStatus = "draft"


class WhitepaperUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "published", "cover_media_id": None}]}
    )

    slug: Slug | None = None
    title: Title | None = None
    summary: Summary | None = None
    language: LanguageCode | None = None
    document_media_id: MediaId | None = None
    cover_media_id: MediaId | None = Field(default=None, description="null removes the cover")
    status: WhitepaperStatus | None = None


_VISITOR_EXAMPLE = {
    "id": 1, "slug": "grid-storage-guide", "title": _EXAMPLE["title"], "summary": _EXAMPLE["summary"], "language": "en",
    "cover_url": "http://localhost:3036/api/v1/public/media/5d41402abc4b2a76b9719d911017c592.png",
    "published_at": "2030-02-01T08:00:00Z",
}


class WhitepaperVisitorView(BaseModel):
    """What visitors see: never the document's URL or any media internals."""

    model_config = ConfigDict(json_schema_extra={"examples": [_VISITOR_EXAMPLE]})

    id: int
    slug: str
    title: dict[str, str]
    summary: dict[str, str]
    language: str
    cover_url: str | None = Field(description="The cover image's public URL, if any")
    published_at: datetime | None


class WhitepaperStaffView(WhitepaperVisitorView):
    """What staff see (any valid token)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_VISITOR_EXAMPLE, "document_media_id": 4, "cover_media_id": 5, "status": "published",
                    "download_count": 12, "created_at": "2030-01-30T15:00:00Z", "updated_at": "2030-02-01T08:00:00Z",
                }
            ]
        }
    )

    document_media_id: int
    cover_media_id: int | None
    status: WhitepaperStatus
    download_count: int
    created_at: datetime
    updated_at: datetime


class DownloadLink(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{
                "download_url": "http://localhost:3036/api/v1/business/whitepapers/1/file?token=eyJ...",
                "expires_at": "2030-01-02T09:00:00Z",
            }]
        }
    )

    download_url: str = Field(description="Signed link to the document, valid 24 hours; also sent by email")
    expires_at: datetime


class LeadStaffView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 9, "whitepaper_id": 1, "email": "ada@example.com", "first_name": "Ada",
                    "last_name": "Lovelace", "company": "Engines Ltd", "language": "en", "consent_marketing": True,
                    "times": 2, "created_at": "2030-02-03T09:12:00Z", "last_downloaded_at": "2030-02-05T17:40:00Z",
                }
            ]
        },
    )

    id: int
    whitepaper_id: int
    email: str
    first_name: str
    last_name: str
    company: str | None
    language: str
    consent_marketing: bool
    times: int = Field(description="How many downloads this visitor asked for")
    created_at: datetime
    last_downloaded_at: datetime


UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "A PDF or DOCX"}},
            }
        }
    },
}

DOCUMENT_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/octet-stream",
)
