"""Bodies of the twitter slice's posts (CONTRACT.md §5); accounts, media and engagement: shared/social_schemas.py.

A post is one tweet or a thread: `segments`, each a tweet of at most 280 characters as X weighs
them (features/twitter/segments.py, checked by the service so the error names the segment) and at
most 4 images.
"""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from features.twitter.segments import MAX_IMAGES_PER_TWEET, MAX_WEIGHTED_LENGTH
from shared.http import MAX_ID
from shared.publishing import PostStatus
from shared.social_schemas import MediaIds, ScheduledAt
from shared.text import MULTI_LINE

MAX_SEGMENTS = 25  # a thread longer than this is a blog post
MAX_RAW_TEXT = 4000  # characters as sent; the weighted limit (280) is checked on top, with URLs as 23


def _distinct(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("names an image twice")
    return ids


SegmentText = Annotated[
    str, Field(max_length=MAX_RAW_TEXT, description=f"At most {MAX_WEIGHTED_LENGTH} characters as X counts them "
                                                    "(every URL 23, CJK and most emoji 2)"),
    MULTI_LINE,
]
SegmentImages = Annotated[
    MediaIds,
    Field(max_length=MAX_IMAGES_PER_TWEET, description=f"At most {MAX_IMAGES_PER_TWEET} images (media items)"),
    AfterValidator(_distinct),
]


class TwitterSegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: SegmentText
    media_ids: SegmentImages = []


Segments = Annotated[
    list[TwitterSegmentIn],
    Field(min_length=1, max_length=MAX_SEGMENTS, description="One segment is a tweet; more are a thread, each replying "
                                                              "to the one before"),
]

_CREATE_EXAMPLE = {
    "account_id": 1,
    "segments": [
        {"text": "We are hiring! A thread on what we build 🧵", "media_ids": [12]},
        {"text": "Apply at https://example.com/jobs", "media_ids": []},
    ],
    "scheduled_at": "2030-05-07T09:00:00+02:00",
}


class TwitterPostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    account_id: int = Field(ge=1, le=MAX_ID)
    segments: Segments
    scheduled_at: ScheduledAt | None = None


class TwitterPostUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"segments": [{"text": "We are hiring (updated)"}]}, {"scheduled_at": None}]},
    )

    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segments: Segments | None = None
    scheduled_at: ScheduledAt | None = Field(default=None, description="null makes a scheduled post a draft again")


class TwitterSegmentStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "text": "Apply at https://example.com/jobs", "media_ids": [], "provider_post_id": "1860000000000000002",
        "url": "https://x.com/i/web/status/1860000000000000002",
    }]})

    text: str
    media_ids: list[int]
    provider_post_id: str | None = Field(description="The tweet's id, set the moment X accepted it")
    url: str | None


class TwitterPostStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "account_id": 1, "text": "We are hiring! A thread on what we build 🧵", "media_ids": [12],
        "segments": [
            {"text": "We are hiring! A thread on what we build 🧵", "media_ids": [12],
             "provider_post_id": "1860000000000000001", "url": "https://x.com/i/web/status/1860000000000000001"},
            {"text": "Apply at https://example.com/jobs", "media_ids": [],
             "provider_post_id": "1860000000000000002", "url": "https://x.com/i/web/status/1860000000000000002"},
        ],
        "status": "published", "scheduled_at": None, "published_at": "2030-05-07T07:00:03Z",
        "provider_post_id": "1860000000000000001", "url": "https://x.com/i/web/status/1860000000000000001",
        "error": None, "attempts": 1, "created_at": "2030-05-01T10:00:00Z", "updated_at": "2030-05-07T07:00:03Z",
    }]})

    id: int
    account_id: int | None = Field(description="null once the account was disconnected")
    text: str = Field(description="The first segment's text")
    media_ids: list[int] = Field(description="The first segment's images")
    segments: list[TwitterSegmentStaffView]
    status: PostStatus
    scheduled_at: datetime | None
    published_at: datetime | None
    provider_post_id: str | None = Field(description="The first tweet's id")
    url: str | None
    error: str | None = Field(description="Why it failed, or why its outcome is unknown")
    attempts: int
    created_at: datetime
    updated_at: datetime
