"""Bodies of the pages slice (CONTRACT.md §5)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.i18n import Localized, LocalizedLine
from shared.slugs import Slug
from shared.timefields import UtcDatetime

PageStatus = Literal["draft", "published", "scheduled"]

_EXAMPLE = {
    "slug": "about-us",
    "title": {"en": "About us", "de": "Über uns"},
    "content": {"en": "<p>We build things.</p>", "de": "<p>Wir bauen Dinge.</p>"},
    "meta_description": {"en": "Who we are"},
    "status": "draft",
}


class PageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    slug: Slug
    title: LocalizedLine
    content: Localized
    meta_description: Localized | None = None
    seo_title: LocalizedLine | None = None
    seo_keywords: LocalizedLine | None = None
    status: PageStatus = "draft"
    publish_at: UtcDatetime | None = Field(default=None, description="When a scheduled page goes live")


class PageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"title": {"en": "About"}}]})

    slug: Slug | None = None
    title: LocalizedLine | None = None
    content: Localized | None = None
    meta_description: Localized | None = None
    seo_title: LocalizedLine | None = None
    seo_keywords: LocalizedLine | None = None
    status: PageStatus | None = None
    publish_at: UtcDatetime | None = None


_STORED_EXAMPLE = {
    "id": 1, **_EXAMPLE, "seo_title": {"en": "About us | Magnetiq"}, "seo_keywords": None, "status": "published",
    "is_published": True, "published_at": "2030-01-16T10:00:00Z", "publish_at": None, "version": 3,
    "created_at": "2030-01-15T09:30:00Z", "updated_at": "2030-01-16T10:00:00Z", "deleted_at": None,
}


class PageStaffView(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_STORED_EXAMPLE]})

    id: int
    slug: str
    title: dict[str, str]
    content: dict[str, str]
    meta_description: dict[str, str] | None
    seo_title: dict[str, str] | None
    seo_keywords: dict[str, str] | None
    status: PageStatus
    is_published: bool
    published_at: datetime | None
    publish_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class RevisionStaffView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7, "page_id": 1, "revision": 3, "author_id": 2, "author_email": "editor@example.com",
                    "created_at": "2030-01-16T10:00:00Z",
                    "snapshot": {
                        key: _STORED_EXAMPLE[key]
                        for key in ("slug", "status", "version", "publish_at", "title", "content", "meta_description",
                                    "seo_title", "seo_keywords")
                    },
                }
            ]
        },
    )

    id: int
    page_id: int
    revision: int
    author_id: int | None
    author_email: str | None
    created_at: datetime
    snapshot: dict[str, Any]


class PageVisitorView(BaseModel):
    """A published page in one language, as visitors' browsers receive it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slug": "about-us", "language": "de", "fallback_fields": ["meta_description", "seo_title"],
                    "title": "Über uns", "content": "<p>Wir bauen Dinge.</p>", "meta_description": "Who we are",
                    "seo_title": "About us | Magnetiq", "seo_keywords": None, "published_at": "2030-01-16T10:00:00Z",
                }
            ]
        }
    )

    slug: str
    language: str = Field(description="The language of `content`: the one asked for, or the default when missing")
    fallback_fields: list[str] = Field(
        default_factory=list, description="Fields served in the default language because the one asked for is missing"
    )
    title: str
    content: str
    meta_description: str | None
    seo_title: str | None
    seo_keywords: str | None
    published_at: datetime | None


_SUMMARY_EXAMPLE = {"slug": "about-us", "language": "en", "title": "About us", "published_at": "2030-01-16T10:00:00Z"}


class PageSummaryVisitorView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY_EXAMPLE]})

    slug: str
    language: str
    title: str
    published_at: datetime | None


class PageVisitorList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_SUMMARY_EXAMPLE], "total": 1}]})

    items: list[PageSummaryVisitorView]
    total: int
