"""Bodies of the linkedin slice's posts (CONTRACT.md §5); accounts, media and engagement: shared/social_schemas.py."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.http import MAX_ID
from shared.publishing import PostStatus
from shared.social_schemas import MediaIds, ScheduledAt
from shared.text import MULTI_LINE

MAX_TEXT = 3000
MAX_IMAGES = 9


def _distinct(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("names an image twice")
    return ids


PostText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT), MULTI_LINE,
    Field(description=f"The commentary, at most {MAX_TEXT:,} characters"),
]
PostImages = Annotated[
    MediaIds, Field(max_length=MAX_IMAGES, description=f"At most {MAX_IMAGES} images (media items)"),
    AfterValidator(_distinct),
]

_CREATE_EXAMPLE = {
    "account_id": 1, "text": "We are hiring! Join our team in Berlin.", "media_ids": [12],
    "scheduled_at": "2030-05-07T09:00:00+02:00",
}


class LinkedInPostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    account_id: int = Field(ge=1, le=MAX_ID)
    text: PostText
    media_ids: PostImages = []
    scheduled_at: ScheduledAt | None = None


class LinkedInPostUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "We are hiring (updated)"}, {"scheduled_at": None}]}
    )

    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    text: PostText | None = None
    media_ids: PostImages | None = None
    scheduled_at: ScheduledAt | None = Field(default=None, description="null makes a scheduled post a draft again")


class LinkedInPostStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "account_id": 1, "text": "We are hiring! Join our team in Berlin.", "media_ids": [12],
        "status": "published", "scheduled_at": None, "published_at": "2030-05-07T07:00:03Z",
        "provider_post_id": "urn:li:share:7123456789", "url": "https://www.linkedin.com/feed/update/urn:li:share:7123456789",
        "error": None, "attempts": 1, "created_at": "2030-05-01T10:00:00Z", "updated_at": "2030-05-07T07:00:03Z",
    }]})

    id: int
    account_id: int | None = Field(description="null once the account was disconnected")
    text: str
    media_ids: list[int]
    status: PostStatus
    scheduled_at: datetime | None
    published_at: datetime | None
    provider_post_id: str | None = Field(description="The post's URN at LinkedIn")
    url: str | None
    error: str | None = Field(description="Why it failed, or why its outcome is unknown")
    attempts: int
    created_at: datetime
    updated_at: datetime
