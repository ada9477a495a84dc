"""Tables of the twitter slice: connected X users, posts (a tweet or a thread of segments), uploaded images, figures.

The columns every network shares come from shared/social_posts.py's mixins; here the keys, and
the lease that lets only one process at a time refresh an account's token (X rotates the refresh
token: two refreshes with the same one would leave one process with a dead token).
"""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.social_posts import (
    EngagementSnapshotColumns,
    PostSegmentColumns,
    ProviderMediaColumns,
    SocialAccountColumns,
    SocialPostColumns,
    SocialTables,
)


class TwitterAccount(SocialAccountColumns, table=True):
    __tablename__ = "twitter_accounts"
    # Connecting the same X user again updates the account.
    __table_args__ = (UniqueConstraint("provider_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    # Who is refreshing the token now, and until when (a process that died leaves it to lapse).
    token_refresh_owner: str | None = Field(default=None, max_length=64)
    token_refresh_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TwitterPost(SocialPostColumns, table=True):
    __tablename__ = "twitter_posts"
    __table_args__ = (Index("ix_twitter_posts_status_published_at", "status", "published_at"),)  # the analytics

    id: int | None = Field(default=None, primary_key=True)
    # SET NULL: disconnecting an account keeps its posts' history (their scheduled ones fail first).
    account_id: int | None = Field(default=None, foreign_key="twitter_accounts.id", ondelete="SET NULL", index=True)


class TwitterPostSegment(PostSegmentColumns, table=True):
    """One tweet of a post: position 0 is the tweet itself, 1, 2 ... reply to the one before."""

    __tablename__ = "twitter_post_segments"
    __table_args__ = (UniqueConstraint("post_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="twitter_posts.id", ondelete="CASCADE")


class TwitterPostImage(SQLModel, table=True):
    """Which media items a post's segments use (the order lives in the segments): RESTRICT, so the media
    slice refuses to delete an image a post still shows (409 IN_USE)."""

    __tablename__ = "twitter_post_images"

    post_id: int = Field(foreign_key="twitter_posts.id", ondelete="CASCADE", primary_key=True)
    media_id: int = Field(foreign_key="media_items.id", ondelete="RESTRICT", primary_key=True, index=True)


class TwitterMedia(ProviderMediaColumns, table=True):
    """An image of the media slice uploaded to X for one user; X forgets it after `expires_at` (a day)."""

    __tablename__ = "twitter_media"
    __table_args__ = (UniqueConstraint("media_id", "account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    media_id: int = Field(foreign_key="media_items.id", ondelete="RESTRICT")
    account_id: int = Field(foreign_key="twitter_accounts.id", ondelete="CASCADE")


class TwitterEngagementSnapshot(EngagementSnapshotColumns, table=True):
    __tablename__ = "twitter_engagement_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="twitter_posts.id", ondelete="CASCADE", index=True)


TABLES = SocialTables(
    network="twitter", account=TwitterAccount, post=TwitterPost, segment=TwitterPostSegment,
    media=TwitterMedia, snapshot=TwitterEngagementSnapshot,
)
