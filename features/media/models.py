from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.db import JSONDocument, UTCDateTime, utcnow


class MediaItem(SQLModel, table=True):
    """An uploaded file. Other slices refer to it with a foreign key ON DELETE RESTRICT."""

    __tablename__ = "media_items"
    # The analytics sum the bytes uploaded per period from the index alone.
    __table_args__ = (Index("ix_media_items_created_at_size", "created_at", "size"),)

    id: int | None = Field(default=None, primary_key=True)
    stored_name: str = Field(max_length=64, unique=True)  # generated; never the client's name
    filename: str = Field(max_length=200)  # the client's name, sanitized, for downloads
    mime_type: str = Field(max_length=100)
    kind: str = Field(max_length=16, index=True)  # image or document
    size: int
    sha256: str = Field(max_length=64, unique=True)
    width: int | None = None
    height: int | None = None
    alt_text: dict[str, str] | None = Field(default=None, sa_type=JSONDocument)
    # Private items (a whitepaper's document) are never served at the public URL.
    is_public: bool = True
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
