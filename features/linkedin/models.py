"""Tables of the linkedin slice: connected members, posts (one segment each), uploaded images, figures.

The columns every network shares come from shared/social_posts.py's mixins; here only the keys.
"""

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.social_posts import (
    EngagementSnapshotColumns,
    PostSegmentColumns,
    ProviderMediaColumns,
    SocialAccountColumns,
    SocialPostColumns,
    SocialTables,
)


class LinkedInAccount(SocialAccountColumns, table=True):
    __tablename__ = "linkedin_accounts"
    # Connecting the same member again updates the account.
    __table_args__ = (UniqueConstraint("provider_user_id"),)

    id: int | None = Field(default=None, primary_key=True)


class LinkedInPost(SocialPostColumns, table=True):
    __tablename__ = "linkedin_posts"
    __table_args__ = (Index("ix_linkedin_posts_status_published_at", "status", "published_at"),)  # the analytics

    id: int | None = Field(default=None, primary_key=True)
    # SET NULL: disconnecting an account keeps its posts' history (their scheduled ones fail first).
    account_id: int | None = Field(default=None, foreign_key="linkedin_accounts.id", ondelete="SET NULL", index=True)


class LinkedInPostSegment(PostSegmentColumns, table=True):
    __tablename__ = "linkedin_post_segments"
    __table_args__ = (UniqueConstraint("post_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="linkedin_posts.id", ondelete="CASCADE")


class LinkedInPostImage(SQLModel, table=True):
    """Which media items a post uses (the order lives in the segment): RESTRICT, so the media slice
    refuses to delete an image a post still shows (409 IN_USE)."""

    __tablename__ = "linkedin_post_images"

    post_id: int = Field(foreign_key="linkedin_posts.id", ondelete="CASCADE", primary_key=True)
    media_id: int = Field(foreign_key="media_items.id", ondelete="RESTRICT", primary_key=True, index=True)


class LinkedInMedia(ProviderMediaColumns, table=True):
    """An image of the media slice uploaded to LinkedIn for one member (the owner must be the author)."""

    __tablename__ = "linkedin_media"
    __table_args__ = (UniqueConstraint("media_id", "account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    media_id: int = Field(foreign_key="media_items.id", ondelete="RESTRICT")
    account_id: int = Field(foreign_key="linkedin_accounts.id", ondelete="CASCADE")


class LinkedInEngagementSnapshot(EngagementSnapshotColumns, table=True):
    __tablename__ = "linkedin_engagement_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="linkedin_posts.id", ondelete="CASCADE", index=True)


TABLES = SocialTables(
    network="linkedin", account=LinkedInAccount, post=LinkedInPost, segment=LinkedInPostSegment,
    media=LinkedInMedia, snapshot=LinkedInEngagementSnapshot,
)
