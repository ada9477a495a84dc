"""Pages and their revisions."""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import JSONDocument, Timestamps, UTCDateTime, utcnow
from shared.dialect import partial_unique_index


class Page(Timestamps, table=True):
    __tablename__ = "pages"
    __table_args__ = (
        # A deleted page's slug may be reused, so uniqueness covers live pages only.
        partial_unique_index("uq_pages_slug_live", "slug", where="deleted_at IS NULL"),
        CheckConstraint("status IN ('draft', 'published', 'scheduled')", name="status_known"),
        CheckConstraint("is_published = (status = 'published')", name="published_matches_status"),
        Index("ix_pages_status_published_at", "status", "published_at"),  # the analytics
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200)
    title: dict[str, str] = Field(sa_type=JSONDocument)
    content: dict[str, str] = Field(sa_type=JSONDocument)
    meta_description: dict[str, str] | None = Field(default=None, sa_type=JSONDocument)
    seo_title: dict[str, str] | None = Field(default=None, sa_type=JSONDocument)
    seo_keywords: dict[str, str] | None = Field(default=None, sa_type=JSONDocument)
    status: str = Field(default="draft", max_length=16, index=True)
    is_published: bool = False
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1  # grows with every change; the ETag is made from it
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    updated_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PageRevision(SQLModel, table=True):
    """The state of a page before one of its updates."""

    __tablename__ = "page_revisions"
    __table_args__ = (UniqueConstraint("page_id", "revision"),)

    id: int | None = Field(default=None, primary_key=True)
    page_id: int = Field(foreign_key="pages.id", ondelete="CASCADE", index=True)
    revision: int
    snapshot: dict[str, Any] = Field(sa_type=JSONDocument)
    author_id: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    author_email: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CacheVersion(SQLModel, table=True):
    """Bumped in the transaction of every page change; each process's cache compares it (features/pages/cache.py)."""

    __tablename__ = "cache_versions"

    namespace: str = Field(primary_key=True, max_length=64)
    version: int = 0
