"""Tables of the whitepapers slice: whitepapers and the visitors who downloaded them."""

from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import JSONDocument, Timestamps, UTCDateTime, utcnow
from shared.dialect import partial_unique_index


class Whitepaper(Timestamps, table=True):
    """A document behind a lead form; its file is a private media item reached by signed link only."""

    __tablename__ = "whitepapers"
    __table_args__ = (
        # A deleted whitepaper's slug may be reused, so uniqueness covers live whitepapers only.
        partial_unique_index("uq_whitepapers_slug_live", "slug", where="deleted_at IS NULL"),
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        CheckConstraint("download_count >= 0", name="download_count_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200)
    title: dict[str, str] = Field(sa_type=JSONDocument)
    summary: dict[str, str] = Field(sa_type=JSONDocument)
    language: str = Field(max_length=8)  # the document's language
    # RESTRICT: the media slice refuses to delete a file a whitepaper still uses (409 IN_USE).
    document_media_id: int = Field(foreign_key="media_items.id", ondelete="RESTRICT", index=True)
    cover_media_id: int | None = Field(default=None, foreign_key="media_items.id", ondelete="RESTRICT", index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    download_count: int = 0
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WhitepaperDownload(SQLModel, table=True):
    """A lead: one visitor (by email) who downloaded one whitepaper, once or more often."""

    __tablename__ = "whitepaper_downloads"
    # One row per visitor and whitepaper, so a second download never doubles the lead.
    __table_args__ = (UniqueConstraint("whitepaper_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    # RESTRICT: leads are never lost with their whitepaper (whitepapers are only soft-deleted).
    whitepaper_id: int = Field(foreign_key="whitepapers.id", ondelete="RESTRICT", index=True)
    email: str = Field(max_length=320)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    company: str | None = Field(default=None, max_length=200)
    language: str = Field(max_length=8)
    consent_marketing: bool  # as given with the latest download
    times: int = 1  # how many downloads this visitor asked for
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    last_downloaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
